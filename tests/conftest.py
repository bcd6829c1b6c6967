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
def tiny_seed(tmp_path_factory):
    """``seed(out)``: copies the tiny config's demo data (tests.tiny_configs.TINY: 360 dialogues) and the
    MiniLM embeddings of its pool and gold_dev, made once per session, into ``out/demo`` and
    ``out/cache/embeddings``, where a run of ``tiny(out, ...)`` looks for them. The run then skips generating
    the demo (it is seeded, so the copy is what it would generate) and embedding it (the cache is keyed by
    the encoder and the texts, so a hit is exactly what it would compute). The main end-to-end run
    (tests/test_pipeline_e2e.py) is not seeded: it generates and embeds for itself."""
    import shutil

    from tagger.config import load_config
    from tagger.dataset import load_dataset
    from tagger.pipeline import make_encoder
    from tests.tiny_configs import tiny

    src = tmp_path_factory.mktemp("tiny_seed")
    (src / "tiny.yaml").write_text(tiny(src))
    cfg = load_config(src / "tiny.yaml")
    ds = load_dataset(cfg)  # generates the demo data
    encoder = make_encoder(cfg)  # the run's encoder, as the pipeline builds it: the same cache keys
    encoder(ds.pool["text"].tolist()), encoder(ds.gold_dev["text"].tolist())

    def seed(out: Path) -> Path:
        shutil.copytree(src / "demo", out / "demo")
        shutil.copytree(src / "cache" / "embeddings", out / "cache" / "embeddings")
        return out

    return seed


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
