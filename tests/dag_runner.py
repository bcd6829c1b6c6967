"""Run one DAG file with ``dag.test()`` in this process: ``python dag_runner.py DAG_FILE [LOGICAL_DATE]``.
Prints the run's final state on the last line."""
import sys
from datetime import datetime, timezone
from pathlib import Path

from airflow.models import DagBag

path = Path(sys.argv[1])
bag = DagBag(dag_folder=str(path))
assert not bag.import_errors, bag.import_errors
dag = bag.dags[path.stem]
kw = {}
if len(sys.argv) > 2:
    kw["logical_date"] = datetime.fromisoformat(sys.argv[2]).replace(tzinfo=timezone.utc)
dr = dag.test(**kw)
print(f"STATE={dr.state}")
