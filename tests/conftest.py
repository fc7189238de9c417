import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def wiki8_path():
    env = os.environ.get("FASTW2V_WIKI8")
    if env:
        return Path(env)
    p = SHARED / "wiki8.txt.xz"
    return p if p.exists() else None


def eval_dir():
    env = os.environ.get("FASTW2V_EVAL_DIR")
    if env:
        return Path(env)
    p = SHARED / "eval"
    return p if p.exists() else None


@pytest.fixture
def cache_dir(tmp_path):
    d = tmp_path / "cache"
    d.mkdir()
    return d
