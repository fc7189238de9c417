"""`--strategy multiworker`: worker processes on localhost, lost, stopped and resumed; TF_CONFIG refusals.

Every wait on a worker is bounded (WORKER_TIMEOUT, or the failure's own bound), and a
worker still running at its bound is killed, so a bug fails these tests instead of
hanging CI.
"""

import json
import os
import re
import signal
import subprocess
import time

import pytest

from helpers import TRAIN, assert_one_line_error, group_purity, planted_corpus, run_cli

from fastw2v import checkpoint as ckpt
from fastw2v.multiworker.cluster import WORKER_SEED_STRIDE, local_tf_configs
from fastw2v.cli import EXIT_PEER_LOST

# every test here starts processes, sockets or the command line: the integration tier
pytestmark = pytest.mark.integration

pytest.importorskip("tensorflow")

WORKER_TIMEOUT = 240  # seconds: no test here waits on a worker longer than this
PEER_TIMEOUT = 20  # --peer-timeout of the failure tests
FAILURE_ARGS = ["--strategy", "multiworker", "--min-count", "1", "--dim", "16", "--window", "3", "--sample", "0",
                "--epochs", "2", "--batch-size", "512", "--output", "v.txt", "--report", "r.json",
                "--checkpoint-dir", "ck", "--checkpoint-every", "1", "--quiet", "--peer-timeout", str(PEER_TIMEOUT)]


def _start(args, tmp_path, n_workers, tag=""):
    """``n_workers`` local workers of ``python -m fastw2v.train args``, in ``tmp_path/{tag}worker{i}``."""
    configs, peer_port = local_tf_configs(n_workers)
    procs = []
    for index, tf_config in enumerate(configs):
        env = dict(os.environ, FASTW2V_CACHE=str(tmp_path / f"cache{index}"), CUDA_VISIBLE_DEVICES="",
                   TF_CPP_MIN_LOG_LEVEL="2", TF_CONFIG=tf_config)
        workdir = tmp_path / f"{tag}worker{index}"
        workdir.mkdir(exist_ok=True)
        err = open(tmp_path / f"{tag}stderr{index}-{time.monotonic_ns()}.txt", "w+")  # not in the workdir
        proc = subprocess.Popen(TRAIN + [str(a) for a in args] + ["--peer-port", str(peer_port)], cwd=workdir, env=env,
                                text=True, stdout=subprocess.DEVNULL, stderr=err)
        proc.err = err
        procs.append(proc)
    return procs


def _finish(procs, timeout=WORKER_TIMEOUT):
    """Exit codes and stderr of ``procs``; any still running after ``timeout`` seconds in all is killed."""
    deadline = time.monotonic() + timeout
    try:
        for p in procs:
            try:
                p.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    errs = []
    for p in procs:
        p.err.seek(0)
        errs.append(p.err.read())
        p.err.close()
    return [p.returncode for p in procs], errs


def _launch(args, tmp_path, n_workers, tag=""):
    return _finish(_start(args, tmp_path, n_workers, tag))


def _expected_pairs(text, n_workers, epochs, window):
    """Pairs one uninterrupted run trains, all workers together: each share's rows in each epoch, from the
    generator itself (positive and 5 negatives per row; the flags' min-count 1, sample 0, seed 1)."""
    from fastw2v.corpus_cache import load_corpus
    from fastw2v.pairs import PairGenerator

    vocab, corpus = load_corpus(str(text), 1, None, use_cache=False)
    rows = 0
    for w in range(n_workers):
        gen = PairGenerator(vocab, window=window, negative=5, sample=0, seed=1 + WORKER_SEED_STRIDE * w)
        rows += sum(gen.rows_in_epoch(corpus.share(w, n_workers), e) for e in range(epochs))
    return rows * 6


def _wait_for_checkpoint(procs, checkpoint, timeout=WORKER_TIMEOUT):
    deadline = time.monotonic() + timeout
    while not checkpoint.exists():
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            codes, errs = _finish(procs, 1)
            pytest.fail(f"no checkpoint appeared ({codes}): " + "\n\n".join(e[-2000:] for e in errs))
        time.sleep(0.1)


def _corpus(tmp_path, sentences):
    corpus, words = planted_corpus(seed=0, sentences=sentences)
    text = tmp_path / "c.txt"
    text.write_text("\n".join(" ".join(s) for s in corpus) + "\n")
    return text, corpus, words


def test_two_local_workers_train_disjoint_shares_and_only_the_chief_writes(tmp_path):
    text, corpus, words = _corpus(tmp_path, 3000)
    codes, errs = _launch(["--corpus", text, "--strategy", "multiworker", "--min-count", "1", "--dim", "16",
                           "--window", "3", "--sample", "0", "--epochs", "3", "--batch-size", "2048",
                           "--output", "v.txt", "--report", "r.json", "--checkpoint-dir", "ck", "--quiet",
                           "--checkpoint-every", "1"],  # the chief checkpoints between steps, the group training on
                          tmp_path, 2)
    assert codes == [0, 0], "\n\n".join(e[-3000:] for e in errs)
    chief, other = tmp_path / "worker0", tmp_path / "worker1"
    # the chief wrote the vectors, the report and checkpoints; the other worker nothing
    assert (chief / "v.txt").exists() and (chief / "r.json").exists() and (chief / "ck").is_dir()
    assert sorted(p.name for p in other.iterdir()) == []
    report = json.loads((chief / "r.json").read_text())
    assert report["workers"] == 2 and report["worker_index"] == 0 and report["replicas"] == 2
    # every worker trained every row of its share, each once, across the chief's checkpoints (a batch
    # split per replica of the group would take two steps, and a worker would train half its rows)
    assert report["pairs_trained"] == report["pairs_trained_total"] == _expected_pairs(text, 2, 3, 3)
    history = [h["loss"] for h in report["history"]]
    assert len(history) == 3 and history[-1] < history[0]  # the loss falls
    from fastw2v.vectors import Vectors

    assert group_purity(Vectors.load(chief / "v.txt"), words) >= 0.8  # and the planted groups were learned
    # the workers' shares of sentences were disjoint and covered the corpus
    shares = []
    for index, err in enumerate(errs):
        m = re.search(rf"worker {index} of 2: sentences (\d+)\.\.(\d+)", err)
        assert m, err[-2000:]
        shares.append((int(m.group(1)), int(m.group(2))))
    assert shares[0][0] == 0 and shares[0][1] + 1 == shares[1][0] and shares[1][1] == len(corpus) - 1


def test_multiworker_without_or_with_a_bad_tf_config_is_one_line_error(tmp_path):
    text = tmp_path / "c.txt"
    corpus, _ = planted_corpus(seed=0, sentences=200)
    text.write_text("\n".join(" ".join(s) for s in corpus) + "\n")
    args = ["--corpus", text, "--strategy", "multiworker", "--min-count", "1", "--epochs", "1"]
    env = dict(os.environ)
    env.pop("TF_CONFIG", None)
    cases = [(None, "needs TF_CONFIG"),
             ("{not json", "TF_CONFIG is malformed"),
             (json.dumps({"cluster": {"worker": []}, "task": {"type": "worker", "index": 0}}), "non-empty list"),
             (json.dumps({"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 3}}),
              "TF_CONFIG task must be"),
             (json.dumps({"cluster": {"worker": ["localhost:1"]}}), "TF_CONFIG is malformed")]
    for tf_config, match in cases:
        case_env = dict(env) if tf_config is None else dict(env, TF_CONFIG=tf_config)
        r = subprocess.run(TRAIN + [str(a) for a in args], capture_output=True, text=True, timeout=120,
                           env=dict(case_env, FASTW2V_CACHE=str(tmp_path / "cache")))
        assert_one_line_error(r, match)


def test_a_lost_worker_ends_the_group_and_a_resume_trains_what_the_checkpoint_had_not(tmp_path):
    text, _, words = _corpus(tmp_path, 6000)
    args = ["--corpus", text, *FAILURE_ARGS]
    procs = _start(args, tmp_path, 2)
    checkpoint = tmp_path / "worker0" / "ck" / "checkpoint.json"
    _wait_for_checkpoint(procs, checkpoint)
    procs[1].send_signal(signal.SIGKILL)  # mid-epoch: checkpoints come every second from the first on
    t_kill = time.monotonic()
    codes, errs = _finish(procs, PEER_TIMEOUT + 30)
    assert codes[0] == EXIT_PEER_LOST and time.monotonic() - t_kill <= PEER_TIMEOUT + 30, (codes, errs[0][-2000:])
    last = errs[0].strip().splitlines()[-1]
    assert "lost worker 1 at localhost:" in last and "its process ended" in last, errs[0][-2000:]
    assert "the last checkpoint is ck/ (saved" in last and "--resume" in last
    meta, arrays = ckpt.load(tmp_path / "worker0" / "ck")  # the checkpoint it names holds
    assert meta["state"]["epoch"] < 2 and arrays
    # both again with --resume: the run ends, learned, and trained each pair once across the two runs
    codes, errs = _launch(args + ["--resume"], tmp_path, 2)
    assert codes == [0, 0], "\n\n".join(e[-3000:] for e in errs)
    report = json.loads((tmp_path / "worker0" / "r.json").read_text())
    expected = _expected_pairs(text, 2, 2, 3)
    assert report["pairs_trained_total"] == expected and 0 < report["pairs_trained"] < expected
    from fastw2v.vectors import Vectors

    assert group_purity(Vectors.load(tmp_path / "worker0" / "v.txt"), words) >= 0.8


def test_sigterm_to_one_worker_stops_both_with_130_and_the_chiefs_checkpoint_resumes(tmp_path):
    text, _, _ = _corpus(tmp_path, 6000)
    args = ["--corpus", text, *FAILURE_ARGS]
    procs = _start(args, tmp_path, 2)
    _wait_for_checkpoint(procs, tmp_path / "worker0" / "ck" / "checkpoint.json")
    procs[1].send_signal(signal.SIGTERM)
    codes, errs = _finish(procs, PEER_TIMEOUT + 30)
    assert codes == [130, 130], (codes, errs[0][-2000:], errs[1][-2000:])
    assert "by a stop of another worker" in errs[0] and "saved in ck/" in errs[0]
    assert "by SIGTERM" in errs[1] and "The chief (worker 0) saved" in errs[1]
    assert (tmp_path / "worker0" / "ck" / "vectors.bin").is_file() and (tmp_path / "worker0" / "v.txt").is_file()
    assert not list((tmp_path / "worker1").glob("ck"))  # only the chief writes
    codes, errs = _launch(args + ["--resume"], tmp_path, 2)
    assert codes == [0, 0], "\n\n".join(e[-3000:] for e in errs)
    report = json.loads((tmp_path / "worker0" / "r.json").read_text())
    assert report["pairs_trained_total"] == _expected_pairs(text, 2, 2, 3)


@pytest.mark.parametrize("index, match", [(0, "worker 1 at localhost:\\d+ did not join within 3 s"),
                                          (1, "worker 1 could not reach the chief at localhost:\\d+ within 3 s")])
def test_a_worker_started_without_its_peer_fails_within_the_timeout(tmp_path, index, match):
    text, _, _ = _corpus(tmp_path, 200)
    configs, peer_port = local_tf_configs(2)
    t0 = time.monotonic()
    r = subprocess.run(TRAIN + ["--corpus", str(text), "--strategy", "multiworker", "--min-count", "1",
                                "--peer-timeout", "3", "--peer-port", str(peer_port)],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path,
                       env=dict(os.environ, TF_CONFIG=configs[index], FASTW2V_CACHE=str(tmp_path / "cache")))
    assert time.monotonic() - t0 <= 3 + 30
    assert r.returncode == EXIT_PEER_LOST and len(r.stderr.strip().splitlines()) == 1, (r.returncode, r.stderr)
    assert r.stderr.startswith("python -m fastw2v.train: ") and re.search(match, r.stderr), r.stderr


def test_peer_flags_are_for_multiworker_and_checked(tmp_path):
    text, _, _ = _corpus(tmp_path, 200)
    r = run_cli(["--corpus", text, "--min-count", "1", "--peer-timeout", "5"], tmp_path)
    assert_one_line_error(r, "--peer-timeout and --peer-port are for --strategy multiworker")
    for flag, value, match in (("--peer-timeout", "0", "peer_timeout must be > 0"),
                               ("--peer-port", "70000", "peer_port must be a TCP port")):
        r = run_cli(["--corpus", text, "--min-count", "1", "--strategy", "multiworker", flag, value], tmp_path)
        assert_one_line_error(r, match)


def test_a_silent_worker_is_lost_after_the_peer_timeout(tmp_path):
    """SIGSTOP freezes worker 1 as a host that drops off would: its connections stay open, silent."""
    text, _, _ = _corpus(tmp_path, 6000)
    procs = _start(["--corpus", text, *FAILURE_ARGS, "--peer-timeout", "8"], tmp_path, 2)
    _wait_for_checkpoint(procs, tmp_path / "worker0" / "ck" / "checkpoint.json")
    procs[1].send_signal(signal.SIGSTOP)
    t_stop = time.monotonic()
    try:
        procs[0].wait(timeout=8 + 30)
    except subprocess.TimeoutExpired:
        pass
    waited = time.monotonic() - t_stop
    codes, errs = _finish(procs, 1)  # kills the frozen worker
    assert codes[0] == EXIT_PEER_LOST and 7 <= waited <= 8 + 30, (codes, waited, errs[0][-2000:])
    last = errs[0].strip().splitlines()[-1]
    assert "lost worker 1" in last and "no word from it for 8 s" in last and "the last checkpoint is ck/" in last


def test_workers_whose_engine_cannot_connect_fail_within_the_timeout(tmp_path):
    """The watch's port is open but TensorFlow's is not: the chief looks for worker 1 where it is not."""
    text, _, _ = _corpus(tmp_path, 300)
    configs, peer_port = local_tf_configs(2)
    misled = json.loads(configs[1])
    misled["cluster"]["worker"][1] = f"localhost:{local_tf_configs(1)[1]}"  # worker 1 listens elsewhere
    procs = []
    for index, tf_config in enumerate([configs[0], json.dumps(misled)]):
        env = dict(os.environ, TF_CONFIG=tf_config, FASTW2V_CACHE=str(tmp_path / f"cache{index}"),
                   CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3")
        err = open(tmp_path / f"err{index}", "w+")
        proc = subprocess.Popen(TRAIN + ["--corpus", str(text), "--strategy", "multiworker", "--min-count", "1",
                                         "--epochs", "1", "--quiet", "--peer-timeout", "8", "--peer-port",
                                         str(peer_port)], cwd=tmp_path, env=env, text=True,
                                stdout=subprocess.DEVNULL, stderr=err)
        proc.err = err
        procs.append(proc)
    t0 = time.monotonic()
    codes, errs = _finish(procs, WORKER_TIMEOUT)
    assert codes == [EXIT_PEER_LOST, EXIT_PEER_LOST] and time.monotonic() - t0 <= WORKER_TIMEOUT, (codes, errs)
    last = errs[0].strip().splitlines()[-1]
    assert "Traceback" not in errs[0] and ("lost a peer" in last or "did not finish within 8 s" in last), errs[0]
