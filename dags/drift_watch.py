"""drift_watch: do the LFs and the champion still fit the tickets that arrive?

Weekly, each window of the workspace's tickets (by created_at) is compared with the reference window:
tag mix, confidence, embedding shift, LF firing rates, conflicts, uncovered tickets (tagger/drift.py).
Rows go to the drift_reports table and the page to REGISTRY/drift.html. A window past a threshold
(configs/airflow.yaml, drift:) is an alert: a log line, the row flagged, the webhook when set, and an
event on the drift-alert Asset, which triggers lf_refinement."""
from airflow.sdk import Param, dag, task

from tagger.dag_common import DEFAULT_ARGS, DRIFT_ALERT, SETTINGS, START


@dag(schedule="@weekly", start_date=START, catchup=False, default_args=DEFAULT_ARGS, max_active_runs=1,
     params={"settings": Param(SETTINGS, type="string")}, tags=["tagger"], doc_md=__doc__)
def drift_watch():
    @task
    def watch(params=None):
        from tagger.jobs import watch_drift

        return watch_drift(params["settings"])

    @task.short_circuit
    def alerted(report: dict) -> bool:
        return bool(report.get("alerts"))

    @task(outlets=[DRIFT_ALERT])
    def raise_alert(report: dict) -> dict:
        return report["alerts"]  # the outlet event triggers lf_refinement

    report = watch()
    alerted(report) >> raise_alert(report)


drift_watch()
