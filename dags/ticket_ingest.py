"""ticket_ingest: pull new dialogues from the source database / drop folder into the workspace."""
from airflow.sdk import Param, dag, task

from tagger.dag_common import DEFAULT_ARGS, SETTINGS, START, TICKETS


@dag(schedule="@hourly", start_date=START, catchup=False, default_args=DEFAULT_ARGS, max_active_runs=1,
     params={"settings": Param(SETTINGS, type="string", description="configs/airflow.yaml")},
     tags=["tagger"], doc_md=__doc__)
def ticket_ingest():
    @task(outlets=[TICKETS])
    def ingest(params=None, data_interval_end=None):
        from tagger.jobs import ingest as job

        return job(params["settings"], data_interval_end.isoformat(timespec="seconds").replace("+00:00", ""))

    ingest()


ticket_ingest()
