"""lf_refinement: run the LF rule-generation loop; new LFs land as `proposed` for analysts. It runs weekly
and whenever drift_watch raises an alert (the drift-alert Asset).

With `refine_batch_dir` in the settings (batch, air-gapped LLM mode) a run imports the pending round's
replies once they are in `BATCH_DIR/inbox/round-NN.jsonl`, runs the loop and exports the next round's
requests; a run before the replies arrive does nothing."""
from airflow.sdk import Param, dag, task
from airflow.timetables.assets import AssetOrTimeSchedule
from airflow.timetables.trigger import CronTriggerTimetable

from tagger.dag_common import DEFAULT_ARGS, DRIFT_ALERT, LF_PROPOSALS, SETTINGS, START


# weekly, and whenever drift watch raises an alert
@dag(schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("@weekly", timezone="UTC"), assets=DRIFT_ALERT),
     start_date=START, catchup=False, default_args=DEFAULT_ARGS, max_active_runs=1,
     params={"settings": Param(SETTINGS, type="string")}, tags=["tagger"], doc_md=__doc__)
def lf_refinement():
    @task(outlets=[LF_PROPOSALS])
    def refine(params=None):
        from tagger.jobs import refine_lfs

        return refine_lfs(params["settings"])

    refine()


lf_refinement()
