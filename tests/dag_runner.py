"""Run DAG files with ``dag.test()``, each run for real, in one process.

``python dag_runner.py DAG_FILE [LOGICAL_DATE]`` runs one DAG and prints the run's final state on the last
line (``STATE=success``). Without arguments it serves runs one after another: each line on stdin is a JSON
object ``{"dag": DAG_FILE, "logical_date": ISO or null}``, and each run ends with a line
``@@dag_runner STATE=<state>`` on stdout; it exits at the end of stdin. The tests use the second form
(:class:`DagRunner`), so Airflow and the ML stack are imported once per test instead of once per DAG run;
every DAG run is still a complete ``dag.test()`` against the same metadata database.
"""
import json
import queue
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

MARK = "@@dag_runner STATE="


def run_one(path: str, logical_date: str | None = None, conf: dict | None = None) -> str:
    from airflow import settings
    from airflow.models import DagBag

    path = Path(path)
    bag = DagBag(dag_folder=str(path))
    assert not bag.import_errors, bag.import_errors
    dag = bag.dags[path.stem]
    kw = {}
    if logical_date:
        kw["logical_date"] = datetime.fromisoformat(logical_date).replace(tzinfo=timezone.utc)
    if conf:
        kw["run_conf"] = conf  # the DAG's params for this run (its settings file), as a triggered run's conf
    try:
        dr = dag.test(**kw)
        return str(dr.state)
    finally:
        if settings.Session is not None:
            settings.Session.remove()  # no transaction left open on the metadata database between runs


def serve() -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        try:
            state = run_one(req["dag"], req.get("logical_date"), req.get("conf"))
        except Exception:  # noqa: BLE001  (reported as a failed run; the traceback goes to stderr)
            import traceback

            traceback.print_exc()
            state = "error"
        sys.stderr.flush()
        print(f"{MARK}{state}", flush=True)


class DagRunner:
    """A ``dag_runner.py`` process serving DAG runs for one environment (AIRFLOW_HOME, settings)."""

    def __init__(self, env: dict, cwd: Path):
        self.err = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve())], env=env, cwd=cwd, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, bufsize=1)
        self.lines: queue.Queue = queue.Queue()  # its stdout, read by a thread until the process ends
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def stderr(self) -> str:
        if self.err.closed:
            return self.err_text
        self.err.seek(0)
        return self.err.read()

    def run(self, dag_file: Path, logical_date: str | None = None, timeout: float = 900,
            conf: dict | None = None) -> tuple[str, str]:
        """One ``dag.test()`` of ``dag_file`` (``conf``: the run's params): ``(state, stdout of this run)``."""
        self.proc.stdin.write(json.dumps({"dag": str(dag_file), "logical_date": logical_date, "conf": conf}) + "\n")
        self.proc.stdin.flush()
        deadline, out = time.monotonic() + timeout, []
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.close()
                raise TimeoutError(f"{dag_file.name} did not finish in {timeout:.0f}s") from None
            if line is None:
                self.close()
                return f"exited {self.proc.returncode}", "".join(out)
            if line.startswith(MARK):
                return line[len(MARK):].strip(), "".join(out)
            out.append(line)

    def close(self):
        """Stop the process. Between runs it is idle, every run's work committed and no database session
        left open, so it is killed rather than left to unload Airflow and torch (seconds of interpreter exit)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        if not self.err.closed:
            self.err_text = self.stderr()
            self.err.close()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        print(f"STATE={run_one(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)}")
    else:
        serve()
