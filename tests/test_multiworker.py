"""`--strategy multiworker`: two worker processes on localhost, and TF_CONFIG refusals."""

import json
import os
import re
import socket
import subprocess
import time

import pytest

from helpers import TRAIN, assert_one_line_error, group_purity, planted_corpus, run_cli

pytest.importorskip("tensorflow")

WORKER_TIMEOUT = 240  # seconds: a worker whose peer is lost must not hang CI


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _launch(args, tmp_path, n_workers):
    workers = [f"localhost:{p}" for p in _free_ports(n_workers)]
    procs = []
    for index in range(n_workers):
        env = dict(os.environ, FASTW2V_CACHE=str(tmp_path / f"cache{index}"), CUDA_VISIBLE_DEVICES="",
                   TF_CPP_MIN_LOG_LEVEL="2",
                   TF_CONFIG=json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}))
        workdir = tmp_path / f"worker{index}"
        workdir.mkdir()
        procs.append(subprocess.Popen(TRAIN + [str(a) for a in args], cwd=workdir, env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    deadline = time.time() + WORKER_TIMEOUT
    outs = []
    try:
        for p in procs:
            outs.append(p.communicate(timeout=max(1.0, deadline - time.time())))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return [p.returncode for p in procs], [err for _, err in outs]


def test_two_local_workers_train_disjoint_shares_and_only_the_chief_writes(tmp_path):
    corpus, words = planted_corpus(seed=0, sentences=3000)
    text = tmp_path / "c.txt"
    text.write_text("\n".join(" ".join(s) for s in corpus) + "\n")
    codes, errs = _launch(["--corpus", text, "--strategy", "multiworker", "--min-count", "1", "--dim", "16",
                           "--window", "3", "--sample", "0", "--epochs", "3", "--batch-size", "2048",
                           "--output", "v.txt", "--report", "r.json", "--checkpoint-dir", "ck", "--quiet"],
                          tmp_path, 2)
    assert codes == [0, 0], "\n\n".join(e[-3000:] for e in errs)
    chief, other = tmp_path / "worker0", tmp_path / "worker1"
    # the chief wrote the vectors, the report and checkpoints; the other worker nothing
    assert (chief / "v.txt").exists() and (chief / "r.json").exists() and (chief / "ck").is_dir()
    assert sorted(p.name for p in other.iterdir()) == []
    report = json.loads((chief / "r.json").read_text())
    assert report["workers"] == 2 and report["worker_index"] == 0 and report["replicas"] == 2
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


def test_multiworker_refuses_resume(tmp_path, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["localhost:1", "localhost:2"]},
                                                "task": {"type": "worker", "index": 0}}))
    text = tmp_path / "c.txt"
    corpus, _ = planted_corpus(seed=0, sentences=200)
    text.write_text("\n".join(" ".join(s) for s in corpus) + "\n")
    r = run_cli(["--corpus", text, "--strategy", "multiworker", "--min-count", "1", "--resume", "--checkpoint-dir",
                 tmp_path / "ck"], tmp_path)
    assert_one_line_error(r, "not supported with --strategy multiworker")
