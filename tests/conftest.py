import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def encoder():
    from models.encoder import Encoder

    return Encoder(max_length=64)


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory):
    from data.demo import generate_demo

    d = tmp_path_factory.mktemp("demo")
    generate_demo(d, n_pool=240, n_test_per_tag=4, seed=3)
    return d


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server (see ``tests/pg_server.py``); yields a factory of fresh database URLs."""
    from tests.pg_server import PostgresServer, pg_bin

    if pg_bin() is None:
        if os.environ.get("TAGGER_REQUIRE_POSTGRES") == "1":
            pytest.fail("TAGGER_REQUIRE_POSTGRES=1 but PostgreSQL is not installed")
        pytest.skip("PostgreSQL is not installed (set TAGGER_REQUIRE_POSTGRES=1 to make this an error)")
    import shutil
    import tempfile

    # not under pytest's tmp dir: that is private to this user, and the server may run as `postgres`
    root = Path(tempfile.mkdtemp(prefix="tagger-pg-"))
    os.chmod(root, 0o755)
    server = PostgresServer(root / "server").start()
    made = iter(range(1000))
    try:
        yield lambda: server.create_database(f"tagger_{next(made)}")
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
