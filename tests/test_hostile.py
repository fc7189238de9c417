"""Hostile input, atomic writes, interruption: nothing crashes deep in a kernel or loses data."""

import errno
import gzip
import io
import json
import re
import os
import signal
import subprocess
import sys
import tarfile
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import assert_one_line_error, interrupt_cli, run_cli, write_group_corpus
from fastw2v import CorpusError, Vocab, iter_sentences, load_corpus
from fastw2v.corpus import ReadStats
from fastw2v.constants import CHECKPOINT_FORMAT_VERSION
from fastw2v.errors import VectorsFormatError
from fastw2v.vectors import Vectors
from fastw2v.vocab import count_words, recount

def _cli(args, tmp_path, timeout=300):
    return run_cli(args, tmp_path, timeout)


_assert_one_line_error = assert_one_line_error


# ------------------------------------------------------------------ corpus files


@pytest.mark.integration
@pytest.mark.parametrize(
    "content, match",
    [
        (b"", "empty"),
        (b"   \n\t\n  \r\n", "empty"),
        (b"a b c d e f", "no word reaches min_count=5"),
    ],
)
def test_empty_whitespace_and_rare_corpora_cli(tmp_path, content, match):
    f = tmp_path / "c.txt"
    f.write_bytes(content)
    _assert_one_line_error(_cli(["--corpus", str(f), "--backend", "hogwild"], tmp_path), match)


@pytest.mark.integration
def test_missing_and_directory_cli(tmp_path):
    _assert_one_line_error(_cli(["--corpus", str(tmp_path / "nope.txt"), "--backend", "hogwild"], tmp_path),
                           "not found")
    _assert_one_line_error(_cli(["--corpus", str(tmp_path), "--backend", "hogwild"], tmp_path), "directory")


@pytest.mark.integration
def test_unusable_cache_directory_cli(tmp_path):
    f = tmp_path / "c.txt"
    f.write_text("a b c d e f\n" * 20)
    (tmp_path / "file").write_text("not a directory")
    _assert_one_line_error(_cli(["--corpus", str(f), "--backend", "hogwild", "--min-count", "1", "--cache-dir",
                                 str(tmp_path / "file" / "c")], tmp_path), "could not create the corpus cache directory")


@pytest.mark.integration
@pytest.mark.parametrize(
    "flags, match",
    [
        (["--max-vocab", "0"], "max_vocab must be >= 1"),
        (["--dim", "0"], "dim must be >= 1"),
        (["--window", "0"], "window must be >= 1"),
        (["--model", "cbow"], "invalid choice"),
        (["--output", "/nonexistent-dir/v.bin"], "does not exist"),
        (["--dim", "2000000000"], "GiB"),
    ],
)
def test_bad_flags_cli(tmp_path, flags, match):
    f = tmp_path / "c.txt"
    f.write_text("a b c d e f g h " * 50)
    _assert_one_line_error(_cli(["--corpus", str(f), "--backend", "hogwild", "--min-count", "1", *flags], tmp_path),
                           match)


def _binary_files(tmp_path):
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, size=300_000, dtype=np.uint8).tobytes()
    files = {"random bytes": ("rand.txt", noise, "binary data: "),
             "PNG image": ("img.png", b"\x89PNG\r\n\x1a\n" + noise[:20_000], "a PNG image"),
             "NumPy array": ("ids.npy", b"\x93NUMPY" + noise[:20_000], "a NumPy .npy array"),
             "gzip without .gz": ("c.txt", gzip.compress(b"the cat " * 1000), "gzip data (give it a .gz suffix)")}
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w") as tf:
        data = b"a perfectly good text file " * 2000
        info = tarfile.TarInfo("corpus.txt")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    files["tar of text"] = ("c.tar", tar.getvalue(), "a tar archive")
    model = tmp_path / "model.bin"
    Vectors([f"w{i}" for i in range(300)], rng.normal(size=(300, 50)).astype(np.float32)).save(model)
    files["word2vec binary model"] = ("model.bin", model.read_bytes(), "word2vec binary vectors")
    return files


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["random bytes", "PNG image", "NumPy array", "gzip without .gz", "tar of text",
                                  "word2vec binary model"])
def test_binary_files_are_refused_saying_what_they_look_like(tmp_path, kind):
    name, data, what = _binary_files(tmp_path)[kind]
    f = tmp_path / name
    f.write_bytes(data)
    with pytest.raises(CorpusError, match="is not a text corpus: it looks like " + re.escape(what)):
        Vocab.build(f, min_count=1)
    assert_one_line_error(_cli(["--corpus", str(f), "--backend", "hogwild", "--min-count", "1"], tmp_path),
                          "looks like " + what)


def test_text_with_a_few_bad_bytes_still_trains_the_threshold_is_the_share(tmp_path):
    from fastw2v.corpus import MAX_BINARY_SHARE, SNIFF_BYTES, check_text

    line = b"good words here and there \xff\xfe more words\n"  # 2 bad bytes in 46: 4%
    check_text(line * 5000, "ok.txt")
    n = 10_000
    bad = int(n * MAX_BINARY_SHARE) + 50
    with pytest.raises(CorpusError, match="binary data"):
        check_text(b"\xff" * bad + b"a " * ((n - bad) // 2), "bad.txt")
    check_text(b"\xff" * (bad - 100) + b"a " * ((n - bad + 100) // 2), "fine.txt")
    check_text(b"a\x00b c\x00\x00\n", "tiny.txt")  # too short to judge by the share
    # only the first SNIFF_BYTES count: binary data further on is read, replaced and counted
    check_text((b"text " * SNIFF_BYTES)[:SNIFF_BYTES] + b"\xff" * SNIFF_BYTES, "late.txt")


@pytest.mark.integration
def test_zip_with_one_file_is_streamed_and_others_are_refused(tmp_path):
    text = "the quick brown fox jumps over the lazy dog " * 300
    (tmp_path / "plain.txt").write_text(text)
    one = tmp_path / "text8.zip"
    with zipfile.ZipFile(one, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("text8", text)
    vocab_zip, corpus_zip = load_corpus(one, min_count=1, use_cache=False)
    vocab_txt, corpus_txt = load_corpus(tmp_path / "plain.txt", min_count=1, use_cache=False)
    assert vocab_zip.words == vocab_txt.words and np.array_equal(corpus_zip.ids, corpus_txt.ids)
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as zf:
        zf.writestr("a.txt", text)
        zf.writestr("sub/b.txt", text)
    assert_one_line_error(_cli(["--corpus", str(two), "--backend", "hogwild"], tmp_path),
                          "holds 2 files (a.txt, sub/b.txt); a zip corpus must hold exactly one text file")
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CorpusError, match="not a readable zip file"):
        Vocab.build(tmp_path / "broken.zip")


def test_nul_bytes_and_invalid_utf8_mixed(tmp_path):
    f = tmp_path / "mixed.txt"
    f.write_bytes(b"good words \xff\xfe here\x00there\nmore good words \xc3\x28 end\n" * 20)
    vocab, corpus = load_corpus(f, min_count=5, use_cache=False)
    assert {"good", "words", "here", "there", "more", "end"} <= set(vocab.words)
    assert corpus.n_sentences == 40


def test_huge_word_is_cut_with_a_warning(tmp_path):
    f = tmp_path / "w.txt"
    f.write_bytes(b"a b " + b"x" * (10 << 20) + b" b a\n")
    stats = ReadStats()
    tokens = [t for s in iter_sentences(f, stats) for t in s]
    assert tokens[:2] == ["a", "b"] and tokens[-2:] == ["b", "a"]
    assert sum(len(t) for t in tokens[2:-2]) == 10 << 20 and len(tokens) >= 6
    assert stats.forced_breaks >= 1 and max(len(t) for t in tokens) <= 2 * (4 << 20)


@pytest.mark.integration
def test_200mb_single_line_streams_in_bounded_memory(tmp_path):
    """A 200 MB line is read in 4 MiB chunks: the reader's peak memory stays far below the file size."""
    f = tmp_path / "line.txt"
    word_block = (" ".join(f"w{i % 1000}" for i in range(100_000)) + " ").encode()
    with open(f, "wb") as fh:
        written = 0
        while written < 200 << 20:
            fh.write(word_block)
            written += len(word_block)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a child forked from a big
    # pytest process would report the parent's peak
    code = (
        "import sys; from fastw2v.vocab import count_words, recount;"
        "c = count_words(sys.argv[1]);"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1];"
        "print(sum(c.values()), len(c), hwm)"
    )
    r = subprocess.run([sys.executable, "-c", code, str(f)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    total, distinct, maxrss_kib = map(int, r.stdout.split())
    assert distinct == 1000 and total == written // len(word_block) * 100_000
    assert maxrss_kib < 400 * 1024, f"peak RSS {maxrss_kib / 1024:.0f} MiB for a 200 MiB line"


def test_prune_bounds_distinct_words():
    corpus = [[f"rare{i}" for i in range(5000)] + ["common"] * 50 for _ in range(3)]
    stats = ReadStats()
    c = count_words(corpus, stats, prune_at=1000)
    assert stats.prunes >= 1 and len(c) <= 5001
    assert c["common"] == 150  # frequent words keep exact counts
    survivors = dict(c)
    exact = recount(corpus, survivors)  # a second pass makes every survivor's count exact
    assert set(exact) == set(survivors) and all(exact[w] == (150 if w == "common" else 3) for w in exact)
    vocab, enc = load_corpus(corpus, min_count=1, prune_at=1000)  # encoding no longer runs short
    assert enc.n_words == vocab.total == sum(exact.values())


# ------------------------------------------------------------------ files we write


def test_failed_write_leaves_earlier_file_intact(tmp_path, monkeypatch):
    v = Vectors(["a", "b"], np.ones((2, 3), np.float32))
    path = tmp_path / "v.bin"
    v.save(path)
    before = path.read_bytes()
    import fastw2v.atomic as atomic

    real_fsync = os.fsync

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        Vectors(["a", "b"], np.zeros((2, 3), np.float32)).save(path)
    monkeypatch.setattr(atomic.os, "fsync", real_fsync)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.bin"]


def test_vocab_file_with_duplicates_is_refused(tmp_path):
    (tmp_path / "v.tsv").write_text("the\t10\nof\t5\nthe\t3\n")
    with pytest.raises(ValueError, match=r":3: duplicate word 'the' \(first on line 1\)"):
        Vocab.load(tmp_path / "v.tsv")


@pytest.mark.integration
def test_two_runs_sharing_a_cache_do_not_corrupt_it(tmp_path):
    f = tmp_path / "c.txt"
    rng = np.random.default_rng(1)
    f.write_text("\n".join(" ".join(f"w{j}" for j in rng.integers(0, 300, 50)) for _ in range(20000)))
    code = ("import sys, hashlib; from fastw2v import load_corpus;"
            "v, c = load_corpus(sys.argv[1], min_count=2, cache_dir=sys.argv[2]);"
            "print(len(v), hashlib.sha256(c.ids.tobytes()).hexdigest())")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(f), str(tmp_path / "cache")], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-500:] for o in outs]
    assert len({o[0] for o in outs}) == 1
    v, c = load_corpus(f, min_count=2, cache_dir=tmp_path / "cache")
    import hashlib

    assert outs[0][0].split()[1] == hashlib.sha256(np.asarray(c.ids).tobytes()).hexdigest()
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.endswith(".tmp")]


# ------------------------------------------------------------------ fuzzing


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=3000), chunk=st.integers(min_value=8, max_value=512))
def test_fuzz_corpus_reader(tmp_path, data, chunk):
    f = tmp_path / "fuzz.txt"
    f.write_bytes(data)
    stats = ReadStats()
    try:
        sents = list(iter_sentences(f, stats, chunk_bytes=chunk))
    except CorpusError as exc:  # bytes that look like a binary format are refused, clearly
        assert "is not a text corpus" in str(exc)
        return
    for s in sents:
        assert s and all(t and not any(c.isspace() for c in t) and "\x00" not in t for t in s)
    # chunking never changes the tokens of words shorter than a chunk
    if all(len(t.encode("utf-8", "surrogatepass")) < chunk for s in sents for t in s) and stats.forced_breaks == 0:
        assert [t for s in sents for t in s] == [t for s in iter_sentences(f) for t in s]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400), header=st.sampled_from([b"", b"2 3\n", b"1 2\n", b"3 2\n", b"0 1\n"]),
       binary=st.sampled_from([True, False, None]))
def test_fuzz_word2vec_loader(tmp_path, data, header, binary):
    f = tmp_path / "fuzz.vec"
    f.write_bytes(header + data)
    try:
        v = Vectors.load(f, binary=binary)
    except VectorsFormatError:
        return
    assert v.vectors.shape[0] == len(v.words)


# ------------------------------------------------------------------ interruption


_write_corpus = write_group_corpus


@pytest.mark.integration
@pytest.mark.parametrize("sig,optimizer", [(signal.SIGINT, "adagrad"), (signal.SIGTERM, "adagrad"),
                                           (signal.SIGINT, "sgd")])
def test_signal_then_resume_equals_uninterrupted_run(tmp_path, sig, optimizer):
    """Bit for bit at one thread, with either update rule: Adagrad's accumulators are in the checkpoint."""
    corpus = tmp_path / "c.txt"
    _write_corpus(corpus)
    common = ["--corpus", str(corpus), "--backend", "hogwild", "--threads", "1", "--seed", "3", "--dim", "32",
              "--epochs", "6", "--min-count", "1", "--window", "5", "--optimizer", optimizer]
    full = _cli(common + ["--output", str(tmp_path / "full.bin"), "--quiet"], tmp_path)
    assert full.returncode == 0, full.stderr[-2000:]
    ck = tmp_path / "ck"
    # past the first epoch's checkpoint, in the middle of the run
    rc, err = interrupt_cli(common + ["--output", tmp_path / "part.bin", "--checkpoint-dir", ck], tmp_path,
                            "epoch 2:", sig)
    assert rc == 130 and f"by {sig.name}" in err and "--resume" in err and "Traceback" not in err, err[-2000:]
    meta = json.loads((ck / "checkpoint.json").read_text())
    assert meta["format"] == CHECKPOINT_FORMAT_VERSION and meta["backend"] == "hogwild"
    assert (meta["state"]["epoch"], meta["state"]["next_job"]) != (6, 0)
    part = Vectors.load(tmp_path / "part.bin")  # the vectors so far were written
    assert len(part) == 600
    with np.load(ck / meta["arrays"]) as data:
        assert ({"acc_in", "acc_out"} <= set(data.files)) == (optimizer == "adagrad")
        if optimizer == "adagrad":
            assert data["acc_in"].shape == (600,) and data["acc_in"].max() > 0
    resumed = _cli(common + ["--output", str(tmp_path / "resumed.bin"), "--checkpoint-dir", str(ck), "--resume",
                             "--quiet"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a = Vectors.load(tmp_path / "full.bin")
    b = Vectors.load(tmp_path / "resumed.bin")
    assert a.words == b.words
    assert np.array_equal(a.vectors, b.vectors)


@pytest.mark.integration
def test_resume_refuses_a_different_configuration(tmp_path):
    corpus = tmp_path / "c.txt"
    _write_corpus(corpus, n_sent=300)
    ck = tmp_path / "ck"
    common = ["--corpus", str(corpus), "--backend", "hogwild", "--threads", "1", "--min-count", "1", "--epochs", "1",
              "--checkpoint-dir", str(ck), "--quiet"]
    assert _cli(common + ["--dim", "16"], tmp_path).returncode == 0
    r = _cli(common + ["--dim", "24", "--resume"], tmp_path)
    _assert_one_line_error(r, "dim: checkpoint 16, now 24")
    r = _cli(common + ["--dim", "16", "--resume", "--checkpoint-dir", str(tmp_path / "empty")], tmp_path)
    _assert_one_line_error(r, "no checkpoint")


@pytest.mark.integration
def test_divergence_stops_with_advice_and_keeps_checkpoint(tmp_path):
    corpus = tmp_path / "c.txt"
    _write_corpus(corpus, n_sent=300)
    r = _cli(["--corpus", str(corpus), "--backend", "hogwild", "--min-count", "1", "--alpha", "1e30",
              "--exact-sigmoid", "--threads", "1", "--quiet"], tmp_path)
    assert r.returncode == 3 and "--alpha" in r.stderr and "Traceback" not in r.stderr, r.stderr
