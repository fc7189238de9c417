"""``keep_freed_heap``: glibc's malloc serves a step's large temporaries from the heap it keeps.

Each check runs in a fresh interpreter, since ``mallopt`` changes the whole process.
A worker thread allocates and frees a 100 MB block (as XLA's executor threads do a
step's temporaries) and reports what glibc's ``mallinfo2`` says of it: the bytes held
in ``mmap``-ed blocks while it lives, and whether the next block of that size reuses
the same memory.
"""

import json
import os
import subprocess
import sys

import pytest

from helpers import TRAIN, assert_one_line_error, cli_env, require_keras, write_group_corpus

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")

PROBE = r"""
import ctypes, json, sys, threading
import numpy as np
from fastw2v.heap import keep_freed_heap

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]

libc = ctypes.CDLL(None)
if not hasattr(libc, "mallinfo2"):
    print(json.dumps({"skip": "no mallinfo2 (glibc older than 2.33)"}))
    sys.exit(0)
libc.mallinfo2.restype = MallInfo2
kept = keep_freed_heap() if sys.argv[1] == "keep" else None
out = {"kept": kept, "mapped": [], "addresses": []}

def step():
    block = np.ones((100 << 20) // 8)  # a step's temporaries: 100 MB, touched
    out["mapped"].append(libc.mallinfo2().hblkhd)
    out["addresses"].append(block.ctypes.data)

for _ in range(2):
    worker = threading.Thread(target=step)
    worker.start()
    worker.join()
print(json.dumps(out))
"""


def probe(mode: str, **env) -> dict:
    r = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, **env))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    if "skip" in out:
        pytest.skip(out["skip"])
    return out


@pytest.mark.integration
def test_keep_freed_heap_serves_a_threads_large_block_from_the_heap_and_reuses_it():
    before = probe("default")
    assert min(before["mapped"]) >= 100 << 20  # glibc's default: the block is mmap-ed, then unmapped
    after = probe("keep")
    assert after["kept"] is True
    assert max(after["mapped"]) < 100 << 20, after  # no mmap: the block came from the heap
    assert after["addresses"][0] == after["addresses"][1]  # the second step reuses the first one's memory


@pytest.mark.integration
def test_keep_freed_heap_can_be_turned_off():
    out = probe("keep", FASTW2V_KEEP_HEAP="0")
    assert out["kept"] is False
    assert min(out["mapped"]) >= 100 << 20


@pytest.mark.integration
def test_importing_keras_modules_leaves_malloc_and_a_keras_run_keeps_the_heap():
    """Importing a module tunes nothing process-wide; the run that wants the kept heap asks for it."""
    require_keras()
    code = ("import fastw2v.keras_models, fastw2v.keras_trainer, fastw2v.heap as m, json; "
            "imported = list(m._HEAP_KEPT); from fastw2v.runner import _start_keras; _start_keras(False); "
            "print(json.dumps([imported, m._HEAP_KEPT]))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    imported, run = json.loads(r.stdout.strip().splitlines()[-1])
    assert imported == []
    assert run == [True]


@pytest.mark.integration
def test_the_kept_heap_changes_no_result_of_a_keras_run(tmp_path):
    """Reused heap memory is not zeroed, as fresh pages are: a step that read memory it had not
    written would train differently with the heap kept. Both runs must be bit-identical."""
    require_keras()
    text = tmp_path / "c.txt"
    write_group_corpus(text, n_sent=500)
    vectors = {}
    for keep in ("1", "0"):
        out = tmp_path / f"v{keep}.txt"
        r = subprocess.run(TRAIN + ["--corpus", str(text), "--min-count", "1", "--dim", "16", "--epochs", "2",
                                    "--batch-size", "2048", "--quiet", "--output", str(out)],
                           capture_output=True, text=True, env=dict(cli_env(tmp_path), FASTW2V_KEEP_HEAP=keep),
                           timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
        vectors[keep] = out.read_text()
    assert vectors["1"] == vectors["0"]


@pytest.mark.integration
def test_a_bad_keep_heap_setting_is_refused_in_one_line(tmp_path):
    from fastw2v.errors import UsageError
    from fastw2v.heap import keep_freed_heap

    with pytest.raises(UsageError, match="FASTW2V_KEEP_HEAP='off'.*set it to 0"):
        keep_freed_heap({"FASTW2V_KEEP_HEAP": "off"})
    require_keras()
    text = tmp_path / "c.txt"
    write_group_corpus(text, n_sent=50)
    r = subprocess.run(TRAIN + ["--corpus", str(text), "--min-count", "1", "--epochs", "1", "--quiet"],
                       capture_output=True, text=True, env=dict(cli_env(tmp_path), FASTW2V_KEEP_HEAP="off"),
                       timeout=300)
    assert_one_line_error(r, "FASTW2V_KEEP_HEAP='off'")
    assert not (tmp_path / "cache").exists()  # refused before the corpus was read (and cached)
