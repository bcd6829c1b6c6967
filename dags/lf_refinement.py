"""lf_refinement: run the LF rule-generation loop; new LFs land as `proposed` for analysts."""
from airflow.sdk import Param, dag, task

from tagger.dag_common import DEFAULT_ARGS, LF_PROPOSALS, SETTINGS, START


@dag(schedule="@weekly", start_date=START, catchup=False, default_args=DEFAULT_ARGS, max_active_runs=1,
     params={"settings": Param(SETTINGS, type="string")}, tags=["tagger"], doc_md=__doc__)
def lf_refinement():
    @task(outlets=[LF_PROPOSALS])
    def refine(params=None):
        from tagger.jobs import refine_lfs

        return refine_lfs(params["settings"])

    refine()


lf_refinement()
