"""batch_tagging: tag tickets the champion has not tagged yet, in shards, upserting into the tags table.

Runs whenever new tickets are ingested or a new champion is promoted (data-aware schedule)."""
from airflow.sdk import Param, dag, task

from tagger.dag_common import CHAMPION, DEFAULT_ARGS, SETTINGS, START, TICKETS


@dag(schedule=(TICKETS | CHAMPION), start_date=START, catchup=False, default_args=DEFAULT_ARGS,
     max_active_runs=1, params={"settings": Param(SETTINGS, type="string")}, tags=["tagger"], doc_md=__doc__)
def batch_tagging():
    @task
    def plan(params=None):
        from tagger.jobs import plan_tagging

        return plan_tagging(params["settings"])

    @task(max_active_tis_per_dag=2)
    def tag(shard: dict, params=None):
        from tagger.jobs import tag_shard

        return tag_shard(params["settings"], shard)

    tag.expand(shard=plan())


batch_tagging()
