"""The training lifecycle of fastw2v.runner: signals, periodic checkpoints, refusals, exit codes."""

import inspect
import json
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

from helpers import assert_one_line_error, interrupt_cli, planted_corpus, require_keras, run_cli, write_group_corpus
from fastw2v import TrainingInterrupted, Vocab, Word2Vec, Word2VecConfig, encode
from fastw2v import checkpoint as ckpt
from fastw2v.cli import exit_code
from fastw2v.runner import Runner, RunOptions
from fastw2v.vectors import Vectors

# ------------------------------------------------------------------ a SIGINT during a periodic checkpoint


class _SignalDuringPeriodicSave(Runner):
    """Sends itself SIGINT while writing the first periodic (not epoch-end) checkpoint."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.words_at_signal = None

    def _save_checkpoint(self, directory):
        super()._save_checkpoint(directory)
        periodic = inspect.stack()[1].function == "_on_checkpoint"
        if periodic and self.words_at_signal is None:
            self.words_at_signal = self.trainer.state.words_done
            os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.integration
def test_sigint_during_a_periodic_checkpoint_stops_at_once(tmp_path):
    """The signal must not be lost: after the checkpoint, training stops before any more words.

    (Before the runner, fit cleared its stop flag when it started, so a signal that
    arrived during a periodic save was only seen one checkpoint period later.)"""
    corpus, _ = planted_corpus(5, sentences=1500)
    vocab = Vocab.build(corpus, min_count=1)
    enc = encode(corpus, vocab)
    trainer = Word2Vec(Word2VecConfig(dim=16, window=3, negative=3, min_count=1, epochs=400, threads=1, seed=1))
    options = RunOptions(checkpoint_dir=str(tmp_path / "ck"), checkpoint_every=0.3, quiet=True)
    runner = _SignalDuringPeriodicSave(trainer, vocab, enc, options, {"vocab": vocab})
    handler_before = signal.getsignal(signal.SIGINT)  # default_int_handler, or SIG_IGN in a background job
    signal.signal(signal.SIGINT, signal.default_int_handler)  # the test sends itself SIGINT
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with pytest.raises(TrainingInterrupted, match="by SIGINT"):
            runner.train()
    finally:
        os.chdir(cwd)
        restored = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, handler_before)
    assert runner.words_at_signal is not None, "no periodic checkpoint was written"
    assert trainer.state.words_done == runner.words_at_signal
    assert trainer.state.epoch < 400
    meta, _ = ckpt.load(tmp_path / "ck")
    assert meta["state"]["words_done"] == runner.words_at_signal
    assert restored is signal.default_int_handler  # the runner put back the handler it found


def test_periodic_checkpoints_are_written_and_training_completes(tmp_path):
    corpus, _ = planted_corpus(6, sentences=1500)
    vocab = Vocab.build(corpus, min_count=1)
    enc = encode(corpus, vocab)
    cfg = Word2VecConfig(dim=16, window=3, negative=3, min_count=1, epochs=60, threads=1, seed=1)
    saves = []

    class Counting(Runner):
        def _save_checkpoint(self, directory):
            saves.append(inspect.stack()[1].function)
            super()._save_checkpoint(directory)

    trainer = Word2Vec(cfg)
    runner = Counting(trainer, vocab, enc, RunOptions(checkpoint_dir=str(tmp_path), checkpoint_every=0.2,
                                                      quiet=True), {"vocab": vocab})
    report = runner.train()
    assert saves.count("_on_epoch_end") == 60 and saves.count("_on_checkpoint") >= 1, saves
    assert len(report["history"]) == 60 and trainer.state.epoch == 60
    # pausing the threads for a periodic checkpoint changes nothing (one thread: exact)
    plain = Word2Vec(cfg).fit(enc, vocab=vocab)
    assert np.array_equal(plain.W_in, trainer.W_in)


# ------------------------------------------------------------------ Keras through the command line


@pytest.mark.integration
def test_keras_cli_interrupt_and_resume_matches_uninterrupted_run(tmp_path):
    require_keras()
    corpus = tmp_path / "c.txt"
    write_group_corpus(corpus, n_sent=1500)
    common = ["--corpus", corpus, "--backend", "keras", "--seed", "3", "--dim", "16", "--epochs", "4",
              "--min-count", "1", "--batch-size", "512", "--validate", "g0w0"]
    full = run_cli(common + ["--output", tmp_path / "full.txt", "--quiet"], tmp_path)
    assert full.returncode == 0, full.stderr[-2000:]
    ck = tmp_path / "ck"
    rc, err = interrupt_cli(common + ["--output", tmp_path / "part.txt", "--checkpoint-dir", ck], tmp_path,
                            "epoch 2:")
    assert rc == 130 and "by SIGINT" in err and "--resume" in err, err[-2000:]
    meta = json.loads((ck / "checkpoint.json").read_text())
    assert meta["backend"] == "keras-sgns" and meta["state"]["epoch"] >= 2 and meta["state"]["epoch"] < 4
    resumed = run_cli(common + ["--output", tmp_path / "resumed.txt", "--checkpoint-dir", ck, "--resume", "--quiet"],
                      tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a, b = Vectors.load(tmp_path / "full.txt"), Vectors.load(tmp_path / "resumed.txt")
    part = Vectors.load(tmp_path / "part.txt")
    assert a.words == b.words
    # the same batches from the same weights: equal up to float32 rounding (text files keep 9 digits)
    np.testing.assert_allclose(a.vectors, b.vectors, rtol=0, atol=1e-6)
    assert np.max(np.abs(a.vectors - part.vectors)) > 1e-3


@pytest.mark.integration
def test_keras_divergence_exits_3_with_advice(tmp_path):
    require_keras()
    corpus = tmp_path / "c.txt"
    write_group_corpus(corpus, n_sent=300)
    r = run_cli(["--corpus", corpus, "--backend", "keras", "--min-count", "1", "--alpha", "1e30", "--dim", "8",
                 "--batch-size", "256", "--epochs", "2", "--quiet"], tmp_path)
    assert r.returncode == 3 and "diverged" in r.stderr and "--alpha" in r.stderr, r.stderr[-2000:]
    assert "Traceback" not in r.stderr


# ------------------------------------------------------------------ refused checkpoints


@pytest.fixture
def hogwild_checkpoint(tmp_path):
    corpus = tmp_path / "c.txt"
    write_group_corpus(corpus, n_sent=200)
    common = ["--corpus", corpus, "--backend", "hogwild", "--threads", "1", "--min-count", "1", "--epochs", "1",
              "--dim", "8", "--quiet"]
    ck = tmp_path / "ck"
    r = run_cli(common + ["--checkpoint-dir", ck], tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    return common, ck


def _resume(tmp_path, common, ck, *extra):
    return run_cli(common + ["--checkpoint-dir", ck, "--resume", *extra], tmp_path)


@pytest.mark.integration
def test_resume_refuses_a_changed_corpus(tmp_path, hogwild_checkpoint):
    common, ck = hogwild_checkpoint
    other = tmp_path / "other.txt"
    write_group_corpus(other, n_sent=200, seed=1)
    common = [str(other) if str(x).endswith("c.txt") else x for x in common]
    assert_one_line_error(_resume(tmp_path, common, ck), "checkpoint is from a different run; corpus")


@pytest.mark.integration
def test_resume_refuses_another_format_version(tmp_path, hogwild_checkpoint):
    common, ck = hogwild_checkpoint
    meta = json.loads((ck / "checkpoint.json").read_text())
    meta["format"] = 1
    (ck / "checkpoint.json").write_text(json.dumps(meta))
    assert_one_line_error(_resume(tmp_path, common, ck), "format version 1, this fastw2v reads version 2")


@pytest.mark.integration
@pytest.mark.parametrize("damage, match", [
    ("truncate", "is damaged"),
    ("not a dict", "is damaged"),
    ("no arrays", "cannot be read"),
    ("no state", "lacks the Hogwild state"),
    ("wrong shape", "expected float32"),
    ("no accumulator", "lacks Adagrad's accumulator 'acc_out'"),
    ("negative accumulator", "acc_in holds values that are negative, NaN or Inf"),
])
def test_resume_refuses_damaged_checkpoints(tmp_path, hogwild_checkpoint, damage, match):
    common, ck = hogwild_checkpoint
    meta_path = ck / "checkpoint.json"
    meta = json.loads(meta_path.read_text())
    if damage == "truncate":
        meta_path.write_text(meta_path.read_text()[:40])
    elif damage == "not a dict":
        meta_path.write_text("[1, 2]")
    elif damage == "no arrays":
        (ck / meta["arrays"]).unlink()
    elif damage == "no state":
        meta["state"] = {"epoch": 1}
        meta_path.write_text(json.dumps(meta))
    else:
        with np.load(ck / meta["arrays"]) as data:
            arrays = {k: data[k] for k in data.files}
        if damage == "no accumulator":
            del arrays["acc_out"]
        elif damage == "negative accumulator":
            arrays["acc_in"][3] = -1.0
        else:
            arrays["W_in"] = arrays["W_in"][:, :4]
        np.savez(ck / meta["arrays"], **arrays)
    assert_one_line_error(_resume(tmp_path, common, ck), match)


def test_resume_refuses_another_backend(tmp_path, hogwild_checkpoint):
    _, ck = hogwild_checkpoint
    meta, _ = ckpt.load(ck)
    with pytest.raises(ckpt.CheckpointError, match="backend: checkpoint 'hogwild', now 'keras-sgns'"):
        ckpt.check_compatible(meta, meta["config"], meta["corpus"], "keras-sgns")


def test_a_checkpoint_from_before_shared_negatives_resumes_with_per_pair_negatives(hogwild_checkpoint):
    _, ck = hogwild_checkpoint
    meta, _ = ckpt.load(ck)
    config = dict(meta["config"])
    old = dict(meta, config={k: v for k, v in config.items() if k != "shared_negatives"})
    ckpt.check_compatible(old, dict(config, shared_negatives=False), meta["corpus"], meta["backend"])
    with pytest.raises(ckpt.CheckpointError, match="shared_negatives: checkpoint False, now True"):
        ckpt.check_compatible(old, dict(config, shared_negatives=True), meta["corpus"], meta["backend"])


def test_a_hogwild_checkpoint_from_before_adagrad_resumes_with_sgd_only(hogwild_checkpoint):
    """Hogwild checkpoints that name no optimizer were trained by SGD (it was the only rule)."""
    _, ck = hogwild_checkpoint
    meta, _ = ckpt.load(ck)
    sgd = Word2VecConfig(**{k: v for k, v in meta["config"].items()
                            if k not in ("optimizer", "learning_rate", "final_rate")}, optimizer="sgd")
    sgd = sgd.for_trainer("hogwild").to_dict()
    old = dict(meta, config={k: v for k, v in sgd.items() if k not in ("optimizer", "learning_rate", "final_rate")})
    ckpt.check_compatible(old, sgd, meta["corpus"], meta["backend"])
    with pytest.raises(ckpt.CheckpointError, match="optimizer: checkpoint 'sgd', now 'adagrad'"):
        ckpt.check_compatible(old, meta["config"], meta["corpus"], meta["backend"])


# ------------------------------------------------------------------ exit codes


@pytest.mark.integration
def test_an_internal_error_keeps_its_traceback(tmp_path):
    corpus = tmp_path / "c.txt"
    write_group_corpus(corpus, n_sent=50)
    code = ("import sys; import fastw2v.runner as r\n"
            "def broken(self): raise KeyError('a bug')\n"
            "r.Runner.train = broken\n"
            "from fastw2v.train import main\n"
            f"sys.exit(main(['--corpus', {str(corpus)!r}, '--backend', 'hogwild', '--min-count', '1', '--quiet']))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=dict(os.environ, FASTW2V_CACHE=str(tmp_path / "cache")))
    assert r.returncode == 1, r.stderr[-2000:]
    assert "Traceback" in r.stderr and "KeyError: 'a bug'" in r.stderr
    assert "internal error" in r.stderr and "please report it" in r.stderr


def test_exit_codes():
    from fastw2v.errors import ArgumentError, CorpusError, TrainingDiverged

    assert exit_code(None) == 0
    assert exit_code(CorpusError("x")) == exit_code(ArgumentError("x")) == 2
    assert exit_code(TrainingDiverged("x")) == 3
    assert exit_code(TrainingInterrupted("x")) == exit_code(KeyboardInterrupt()) == 130
    assert exit_code(ValueError("a bug")) == exit_code(KeyError("a bug")) == 1


def test_no_checkpoint_dir_interrupt_saves_in_the_default_directory(tmp_path):
    corpus, _ = planted_corpus(7, sentences=300)
    vocab = Vocab.build(corpus, min_count=1)
    enc = encode(corpus, vocab)
    trainer = Word2Vec(Word2VecConfig(dim=8, min_count=1, epochs=3, threads=1))
    trainer.request_stop()  # stops in the first epoch
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with pytest.raises(TrainingInterrupted, match="fastw2v-checkpoint/; continue with --resume"):
            Runner(trainer, vocab, enc, RunOptions(quiet=True), {"vocab": vocab}).train()
    finally:
        os.chdir(cwd)
    assert (tmp_path / "fastw2v-checkpoint" / "checkpoint.json").is_file()
    assert len(Vectors.load(tmp_path / "fastw2v-checkpoint" / "vectors.bin")) == len(vocab)
    shutil.rmtree(tmp_path / "fastw2v-checkpoint")
