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
