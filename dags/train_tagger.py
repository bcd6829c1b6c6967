"""train_tagger: approved LFs -> label model -> end model -> gold scores -> promote if not worse."""
from airflow.sdk import Param, dag, task

from tagger.dag_common import CHAMPION, DEFAULT_ARGS, SETTINGS, START


@dag(schedule="@weekly", start_date=START, catchup=False, default_args=DEFAULT_ARGS, max_active_runs=1,
     params={"settings": Param(SETTINGS, type="string")}, tags=["tagger"], doc_md=__doc__)
def train_tagger():
    @task(outlets=[CHAMPION])
    def train_and_promote(params=None):
        from tagger.jobs import train

        return train(params["settings"])

    train_and_promote()


train_tagger()
