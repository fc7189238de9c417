"""`python -m fastw2v.train`: each flag, and the report's fields."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import TRAIN, assert_one_line_error, cli_env, has_tensorflow, planted_corpus, require_keras, run_cli

# every test here starts processes, sockets or the command line: the integration tier
pytestmark = pytest.mark.integration

GROUPS = 6


def _planted_file(path, hapaxes=0, seed=0):
    """The planted corpus as text; ``hapaxes`` one-word lines of distinct words first."""
    corpus, words = planted_corpus(seed)
    lines = [f"rare{i}" for i in range(hapaxes)] + [" ".join(s) for s in corpus]
    path.write_text("\n".join(lines) + "\n")
    return words


def _eval_files(tmp_path):
    """An analogy file over the planted groups, and a word-pair file with a header row:
    pairs within a group score 9, across groups 1."""
    q = tmp_path / "questions.txt"
    q.write_text(": groups\n" + "".join(f"g{g}w0 g{g}w1 g{(g + 1) % GROUPS}w0 g{(g + 1) % GROUPS}w1\n"
                                        for g in range(GROUPS)))
    p = tmp_path / "pairs.tsv"
    rows = [f"g{g}w{i}\tg{g}w{i + 1}\t9" for g in range(GROUPS) for i in range(3)]
    rows += [f"g{g}w{i}\tg{(g + 1) % GROUPS}w{i}\t1" for g in range(GROUPS) for i in range(3)]
    p.write_text("Word 1\tWord 2\tHuman (mean)\n" + "\n".join(rows) + "\n")
    return q, p


def test_hogwild_flags_and_report_fields(tmp_path):
    corpus = tmp_path / "c.txt"
    _planted_file(corpus)
    q, p = _eval_files(tmp_path)
    report = tmp_path / "r.json"
    r = run_cli(["--corpus", corpus, "--backend", "hogwild", "--min-count", "1", "--dim", "16", "--window", "3",
                 "--sample", "0", "--epochs", "4", "--threads", "2", "--validate", "g0w0,g1w1,nosuchword",
                 "--eval-analogies", q, "--eval-pairs", p, "--report", report, "--output", tmp_path / "v.bin",
                 "--quiet"], tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    rep = json.loads(report.read_text())
    assert set(rep["neighbours"]) == {"g0w0", "g1w1"}
    for word, near in rep["neighbours"].items():
        assert len(near) == 8 and word not in near
        assert sum(n.startswith(word.split("w")[0] + "w") for n in near) >= 6  # its own group
    analogies = rep["evaluation"]["analogies"]
    assert analogies["total"] == GROUPS and analogies["skipped"] == 0 and 0 <= analogies["accuracy"] <= 1
    pairs = rep["evaluation"]["pairs"][0]
    assert pairs["pairs"] == 2 * 3 * GROUPS and pairs["covered"] == pairs["pairs"]  # the header row is not a pair
    assert pairs["spearman"] > 0.6
    history = rep["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3, 4] and history[-1]["loss"] < history[0]["loss"]
    assert rep["final_loss"] == history[-1]["loss"] and rep["threads"] == 2
    assert rep["words_per_sec"] > 0 and rep["pairs_per_sec"] > rep["words_per_sec"]
    # the CLI's own table goes to stderr when not quiet
    r = run_cli(["--corpus", corpus, "--backend", "hogwild", "--min-count", "1", "--dim", "8", "--epochs", "1",
                 "--eval-analogies", q, "--validate", "g0w0"], tmp_path)
    assert r.returncode == 0 and "Analogies (" in r.stderr and "Nearest to g0w0:" in r.stderr, r.stderr[-2000:]
    # a 1-epoch run's epoch end and its finish report the same neighbours: printed once
    assert r.stderr.count("Nearest to g0w0:") == 1, r.stderr[-2000:]


def test_prune_at_bounds_the_words_counted(tmp_path):
    corpus = tmp_path / "c.txt"
    words = _planted_file(corpus, hapaxes=300)
    sizes = {}
    for flags in ([], ["--prune-at", "100"]):
        report = tmp_path / "r.json"
        r = run_cli(["--corpus", corpus, "--backend", "hogwild", "--min-count", "1", "--dim", "4", "--epochs", "1",
                     "--report", report, "--quiet", *flags], tmp_path)
        assert r.returncode == 0, r.stderr[-2000:]
        sizes[bool(flags)] = json.loads(report.read_text())["vocab_size"]
    assert sizes[False] == len(words) + 300
    assert sizes[True] == len(words)  # every one-off word was pruned while counting
    assert_one_line_error(run_cli(["--corpus", corpus, "--backend", "hogwild", "--prune-at", "0"], tmp_path),
                          "prune_at must be >= 1")


def test_no_cache_writes_no_cache(tmp_path):
    corpus = tmp_path / "c.txt"
    _planted_file(corpus)
    common = ["--corpus", corpus, "--backend", "hogwild", "--min-count", "1", "--dim", "4", "--epochs", "1", "--quiet"]
    assert run_cli(common + ["--no-cache"], tmp_path).returncode == 0
    assert not list((tmp_path / "cache").glob("*.ids.npy"))
    assert run_cli(common, tmp_path).returncode == 0
    assert len(list((tmp_path / "cache").glob("*.ids.npy"))) == 1


def test_keras_only_flags_are_refused_with_hogwild(tmp_path):
    corpus = tmp_path / "c.txt"
    _planted_file(corpus)
    for flags in (["--model", "tutorial"], ["--strategy", "mirrored"], ["--batch-size", "512"],
                  ["--tensorboard", str(tmp_path / "tb")]):
        r = run_cli(["--corpus", corpus, "--backend", "hogwild", "--min-count", "1", *flags], tmp_path)
        assert_one_line_error(r, "are for --backend keras")


def test_hogwild_only_flags_are_refused_with_keras_and_shared_negatives_is_recorded(tmp_path):
    corpus = tmp_path / "c.txt"
    _planted_file(corpus)
    for flags in (["--exact-sigmoid"], ["--shared-negatives"], ["--no-shared-negatives"]):
        r = run_cli(["--corpus", corpus, "--backend", "keras", "--min-count", "1", *flags], tmp_path)
        assert_one_line_error(r, "are for --backend hogwild")
    for flag, shared in (("--shared-negatives", True), ("--no-shared-negatives", False)):
        report = tmp_path / "r.json"
        r = run_cli(["--corpus", corpus, "--backend", "hogwild", "--min-count", "1", "--dim", "8", "--epochs", "1",
                     "--report", report, "--quiet", flag], tmp_path)
        assert r.returncode == 0, r.stderr[-2000:]
        assert json.loads(report.read_text())["config"]["shared_negatives"] is shared


def test_keras_tutorial_mirrored_tensorboard(tmp_path):
    require_keras()
    corpus = tmp_path / "c.txt"
    _planted_file(corpus)
    report, tb = tmp_path / "r.json", tmp_path / "tb"
    args = ["--corpus", corpus, "--backend", "keras", "--model", "tutorial", "--strategy", "mirrored",
            "--min-count", "1", "--dim", "8", "--epochs", "2", "--batch-size", "1024", "--tensorboard", tb,
            "--report", report, "--quiet"]
    if not has_tensorflow():  # Keras writes TensorBoard's summaries with TensorFlow on every backend
        assert_one_line_error(run_cli(args, tmp_path), "--tensorboard needs TensorFlow")
        pytest.skip("--tensorboard needs TensorFlow, which is not installed (its refusal was checked)")
    r = run_cli(args, tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    rep = json.loads(report.read_text())
    assert rep["model"] == "tutorial" and rep["keras"]["model"] == "tutorial"
    assert rep["keras"]["strategy"] == "mirrored" and rep["replicas"] >= 1
    assert rep["config"]["negative"] == 1 and rep["config"]["learning_rate"] == 0.001  # the tutorial's defaults
    assert rep["batch_size"] == 1024 and len(rep["history"]) == 2
    events = list(tb.rglob("events.out.tfevents.*"))
    assert events and all(e.stat().st_size > 0 for e in events)
    assert (tb / "metadata.tsv").read_text().count("\n") == rep["vocab_size"]
    vectors = np.loadtxt(tb / "vectors.tsv", delimiter="\t")
    assert vectors.shape == (rep["vocab_size"], 8)
    assert 'tensor_path: "vectors.tsv"' in (tb / "projector_config.pbtxt").read_text()


@pytest.mark.parametrize("backend, extra", [("tensorflow", "tf"), ("jax", "jax")])
def test_without_keras_hogwild_trains_and_keras_says_what_to_install(tmp_path, backend, extra):
    """As in a core-only install: neither Keras nor a backend can be imported."""
    corpus = tmp_path / "c.txt"
    _planted_file(corpus)
    blocked = ("import sys; sys.modules['tensorflow'] = sys.modules['keras'] = sys.modules['jax'] = None\n"
               "from fastw2v.train import main\n"
               "rc = main(sys.argv[1:])\n"
               "assert sys.modules['tensorflow'] is None\n"
               "sys.exit(rc)")
    env = dict(os.environ, FASTW2V_CACHE=str(tmp_path / "cache"), KERAS_BACKEND=backend)
    common = [sys.executable, "-c", blocked, "--corpus", str(corpus), "--min-count", "1", "--dim", "4", "--epochs",
              "1", "--quiet"]
    ok = subprocess.run(common + ["--backend", "hogwild", "--output", str(tmp_path / "v.txt")], capture_output=True,
                        text=True, env=env)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert (tmp_path / "v.txt").is_file()
    refused = subprocess.run(common + ["--backend", "keras"], capture_output=True, text=True, env=env)
    assert_one_line_error(refused, f"pip install 'fastw2v[{extra}]'")
    assert "--backend hogwild" in refused.stderr


def test_one_optimizer_flag_for_both_backends(tmp_path):
    """--optimizer, --alpha and --final-rate mean the same on both backends: --alpha is the
    chosen rule's rate (word2vec's alpha for sgd), and the report records what ran."""
    corpus = tmp_path / "c.txt"
    _planted_file(corpus)
    common = ["--corpus", corpus, "--backend", "hogwild", "--min-count", "1", "--dim", "8", "--epochs", "1", "--quiet"]
    for flags, expected in (([], ("adagrad", 0.2, 0.25, 0.025)),
                            (["--alpha", "0.3", "--final-rate", "0.5"], ("adagrad", 0.3, 0.5, 0.025)),
                            (["--optimizer", "sgd", "--alpha", "0.05"], ("sgd", None, None, 0.05))):
        report = tmp_path / "r.json"
        r = run_cli(common + ["--report", report, *flags], tmp_path)
        assert r.returncode == 0, r.stderr[-2000:]
        cfg = json.loads(report.read_text())["config"]
        assert (cfg["optimizer"], cfg["learning_rate"], cfg["final_rate"], cfg["alpha"]) == expected
    assert_one_line_error(run_cli(common + ["--optimizer", "sgd", "--final-rate", "0.5"], tmp_path),
                          "final_rate is not for sgd")
    assert_one_line_error(run_cli(common + ["--optimizer", "rmsprop"], tmp_path), "invalid choice: 'rmsprop'")
    assert_one_line_error(run_cli(common + ["--backend", "keras", "--model", "tutorial", "--optimizer", "sgd"],
                                  tmp_path), "--optimizer and --final-rate are for --model sgns and hogwild")


COMMANDS = ("train", "query", "plot", "evaluate")


@pytest.mark.parametrize("name", COMMANDS)
def test_help_states_each_default_once(name):
    import argparse
    import importlib

    parser = importlib.import_module(f"fastw2v.{name}").build_parser()
    assert "(default: None)" not in parser.format_help()
    formatter = parser._get_formatter()
    for action in parser._actions:
        if not action.option_strings or isinstance(action, argparse._HelpAction):
            continue
        shown = formatter._get_help_string(action)
        assert shown.count("(default:") <= 1, action.option_strings
        if shown != (action.help or ""):  # "(default: X)" appended: the help's own words name none
            assert "default" not in (action.help or "").lower(), action.option_strings
        if action.default not in (None, False, []):
            assert "default" in shown.lower(), (action.option_strings, "a default the help does not state")


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_line_is_a_console_script_of_the_installed_package(name):
    """As CI installs the package (pip install -e), each command has its script beside the interpreter."""
    script = Path(sys.executable).parent / f"fastw2v-{name}"
    assert script.is_file(), f"{script} is missing: is fastw2v installed (pip install -e .)?"
    r = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("usage: "), r.stderr[-2000:]


NATIVE_LOG = re.compile(r"^[IWE]\d{4} |absl::InitializeLog|cuInit|oneDNN|cuda", re.IGNORECASE)


@pytest.mark.parametrize("verbose", [False, True])
def test_a_keras_run_starts_quietly_and_reports_its_neighbours_once(tmp_path, verbose):
    require_keras()
    corpus = tmp_path / "c.txt"
    _planted_file(corpus)
    env = {k: v for k, v in cli_env(tmp_path).items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    r = subprocess.run(TRAIN + ["--corpus", str(corpus), "--min-count", "1", "--dim", "8", "--epochs", "1",
                                "--validate", "g0w0", "--batch-size", "512"] + (["--verbose"] if verbose else []),
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    native = [line for line in r.stderr.splitlines() if NATIVE_LOG.search(line)]
    if not verbose:
        assert native == [], native
    assert r.stderr.count("Nearest to g0w0:") == 1, r.stderr[-2000:]


def test_the_start_up_filter_keeps_real_messages(capfd):
    from fastw2v.quiet import native_start_up_filtered

    env = {}
    with native_start_up_filtered(env):
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
                    b"I0000 00:00:1.0  1 cudart_stub.cc:31] Could not find cuda drivers on your machine\n"
                    b"E0000 00:00:1.0  1 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error\n"
                    b"W0000 00:00:1.0  1 some_op.cc:7] a real native warning\n"
                    b"a line of the user's own\n")
        print("a Python warning", file=sys.stderr)
    err = capfd.readouterr().err
    assert sorted(err.splitlines()) == sorted(["W0000 00:00:1.0  1 some_op.cc:7] a real native warning",
                                               "a line of the user's own", "a Python warning"])
    assert env == {"TF_CPP_MIN_LOG_LEVEL": "1"}
    env = {"TF_CPP_MIN_LOG_LEVEL": "3"}
    with native_start_up_filtered(env):
        pass
    assert env == {"TF_CPP_MIN_LOG_LEVEL": "3"}  # the user's own level stays
