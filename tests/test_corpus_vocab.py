import bz2
import errno
import gzip
import lzma
import os
import sys
import time

import numpy as np
import pytest

import naive
from fastw2v import CorpusError, CorpusNotFoundError, PairGenerator, Vocab, corpus_cache, iter_sentences, load_corpus
from fastw2v.constants import MAX_SENTENCE_LEN
from fastw2v.corpus import ReadStats, check_ids
from fastw2v.errors import OutputError


WORDS = "the cat sat on the mat the dog ate the cat food".split()


def _write(path, text, opener=open):
    with opener(path, "wb") as fh:
        fh.write(text.encode("utf-8") if isinstance(text, str) else text)
    return path


@pytest.mark.parametrize("suffix, opener", [("", open), (".gz", gzip.open), (".bz2", bz2.open), (".xz", lzma.open)])
def test_readers_all_formats(tmp_path, suffix, opener):
    path = _write(tmp_path / f"c.txt{suffix}", "a b c\nd  e\n\nf\tg\r\n", opener)
    assert list(iter_sentences(path)) == [["a", "b", "c"], ["d", "e"], ["f", "g"]]


def test_iterable_of_token_lists():
    corpus = [["a", "b"], ["c"]]
    assert list(iter_sentences(corpus)) == corpus


def test_chunk_boundaries_do_not_split_words(tmp_path):
    rng = np.random.default_rng(0)
    words = [("w%d" % i) * int(rng.integers(1, 4)) for i in rng.integers(0, 50, size=3000)]
    lines = [" ".join(words[i : i + 37]) for i in range(0, 3000, 37)]
    path = _write(tmp_path / "c.txt", "\n".join(lines) + "\n")
    expect = [l.split() for l in lines]
    for chunk in (16, 64, 1000, 1 << 20):  # every chunk is longer than the longest word
        assert list(iter_sentences(path, chunk_bytes=chunk)) == expect


def test_word_longer_than_a_chunk_is_cut_with_warning(tmp_path):
    path = _write(tmp_path / "w.txt", "a " + "x" * 50 + " b\n")
    stats = ReadStats()
    tokens = [t for s in iter_sentences(path, stats, chunk_bytes=16) for t in s]
    assert tokens[0] == "a" and tokens[-1] == "b" and "".join(tokens[1:-1]) == "x" * 50
    assert stats.forced_breaks >= 1
    with pytest.warns(RuntimeWarning, match="were cut"):
        stats.warn(str(path))


def test_long_line_is_cut_into_pseudo_sentences(tmp_path):
    n = MAX_SENTENCE_LEN * 2 + 5
    path = _write(tmp_path / "text8", " " + " ".join(["x"] * n))  # text8 starts with a space
    sents = list(iter_sentences(path, chunk_bytes=4096))
    assert [len(s) for s in sents] == [MAX_SENTENCE_LEN, MAX_SENTENCE_LEN, 5]
    sents = list(iter_sentences([["y"] * n]))
    assert [len(s) for s in sents] == [MAX_SENTENCE_LEN, MAX_SENTENCE_LEN, 5]


def test_undecodable_bytes_are_replaced_and_counted(tmp_path):
    path = _write(tmp_path / "bad.txt", b"good \xff\xfe word caf\xc3\xa9\n")
    stats = ReadStats()
    assert list(iter_sentences(path, stats)) == [["good", "\ufffd\ufffd", "word", "caf\u00e9"]]
    assert stats.undecodable_bytes == 2
    with pytest.warns(UnicodeWarning, match="2 undecodable byte"):
        Vocab.build(path, min_count=1)


def test_nul_bytes_are_whitespace(tmp_path):
    path = _write(tmp_path / "nul.txt", b"a\x00b c\x00\x00\n")
    assert list(iter_sentences(path)) == [["a", "b", "c"]]


def test_vocab_order_min_count_and_max_vocab():
    corpus = [["b", "a", "c", "a", "b", "d"], ["c", "e", "a"]]
    v = Vocab.build(corpus, min_count=1)
    # a:3, then b and c tie at 2: b first seen first; d and e tie at 1: d first
    assert v.words == ["a", "b", "c", "d", "e"]
    assert v.counts.tolist() == [3, 2, 2, 1, 1]
    assert Vocab.build(corpus, min_count=2).words == ["a", "b", "c"]
    assert Vocab.build(corpus, min_count=1, max_vocab=2).words == ["a", "b"]


def test_vocab_save_load_roundtrip(tmp_path):
    v = Vocab.build([WORDS], min_count=1)
    v.save(tmp_path / "v.tsv")
    assert (tmp_path / "v.tsv").read_text().splitlines()[0] == "the\t4"
    w = Vocab.load(tmp_path / "v.tsv")
    assert w.words == v.words and np.array_equal(w.counts, v.counts)


@pytest.mark.parametrize(
    "text, match",
    [("a\t1\na\t2\n", "duplicate word 'a'"), ("a\t1\nb\tx\n", ":2: count"), ("a 1\n", ":1: expected"), ("", "empty")],
)
def test_vocab_load_errors_name_the_line(tmp_path, text, match):
    (tmp_path / "v.tsv").write_text(text)
    with pytest.raises(ValueError, match=match):
        Vocab.load(tmp_path / "v.tsv")


def test_encoding_and_cache(tmp_path, cache_dir):
    path = _write(tmp_path / "c.txt", "\n".join(" ".join(WORDS) for _ in range(5)) + "\nrare\n")
    v, c = load_corpus(path, min_count=2, cache_dir=cache_dir)
    assert "rare" not in v
    assert c.raw_words == 5 * len(WORDS) + 1
    assert c.n_words == 5 * len(WORDS) and c.n_sentences == 5
    assert [v.words[i] for i in c.ids[: len(WORDS)]] == WORDS
    assert isinstance(c.ids, np.memmap)
    files = sorted(p.name for p in cache_dir.iterdir())
    assert len(files) == 4 and not any(f.endswith(".tmp") for f in files)
    # second run: memory-mapped from the cache, the text is not read again
    mtime = {p: p.stat().st_mtime_ns for p in cache_dir.iterdir()}
    v2, c2 = load_corpus(path, min_count=2, cache_dir=cache_dir)
    assert {p: p.stat().st_mtime_ns for p in cache_dir.iterdir()} == mtime
    assert np.array_equal(c2.ids, c.ids) and v2.words == v.words
    # other vocabulary parameters make another cache entry
    v3, _ = load_corpus(path, min_count=1, cache_dir=cache_dir)
    assert "rare" in v3 and len(list(cache_dir.iterdir())) == 8
    # changing the file invalidates the cache
    time.sleep(0.01)
    _write(path, "x y x y x y\n")
    v4, c4 = load_corpus(path, min_count=2, cache_dir=cache_dir)
    assert v4.words == ["x", "y"] and c4.n_words == 6


def test_uncached_and_iterable_encoding(tmp_path):
    path = _write(tmp_path / "c.txt", " ".join(WORDS))
    v, c = load_corpus(path, min_count=1, use_cache=False)
    assert not isinstance(c.ids, np.memmap) and c.n_words == len(WORDS)
    v2, c2 = load_corpus([WORDS], min_count=1)
    assert np.array_equal(c.ids, c2.ids)


@pytest.mark.parametrize("min_count, max_vocab, spill", [(1, None, 7), (3, None, 7), (2, 7, 7), (3, None, None)])
@pytest.mark.parametrize("cached", [False, True])
def test_one_read_matches_a_word_by_word_encoding(tmp_path, monkeypatch, min_count, max_vocab, spill, cached):
    """load_corpus reads a file once (read_once); its vocabulary, ids and sentence offsets are
    the slow reference's: with the scratch spilled every few tokens, so that spills and the
    id mapping's slices cut sentences, or once at the end, and with sentences that keep no word."""
    if spill is not None:
        monkeypatch.setattr(corpus_cache, "_SPILL_WORDS", spill)
    rng = np.random.default_rng(min_count)
    common = [f"w{i}" for i in range(12)]
    lines = []
    for i in range(60):
        if i % 9 == 4:  # only once-seen words: the sentence keeps none at min_count > 1
            lines.append(" ".join(f"rare{i}_{j}" for j in range(rng.integers(1, 4))))
        else:
            lines.append(" ".join(rng.choice(common, rng.integers(1, 15), p=np.linspace(2, 0.2, 12) / 13.2)))
    path = _write(tmp_path / "c.txt", "\n".join(lines) + "\n")
    words, counts, ids, starts = naive.encode_corpus([ln.split() for ln in lines], min_count, max_vocab)
    v, c = load_corpus(path, min_count=min_count, max_vocab=max_vocab, use_cache=cached,
                       cache_dir=tmp_path / "cache")
    assert v.words == words and v.counts.tolist() == counts
    assert c.ids.tolist() == ids and c.sentence_starts.tolist() == starts
    assert c.raw_words == sum(len(ln.split()) for ln in lines)
    assert isinstance(c.ids, np.memmap) == cached
    if cached:  # the scratch file leaves nothing behind; the entry is its four files
        assert len(list((tmp_path / "cache").iterdir())) == 4


def test_one_read_error_leaves_no_scratch(tmp_path, monkeypatch):
    made = []
    real = corpus_cache.tempfile.TemporaryFile
    monkeypatch.setattr(corpus_cache.tempfile, "TemporaryFile", lambda **kw: made.append(real(**kw)) or made[-1])
    with pytest.raises(CorpusError, match="no word reaches min_count=5"):
        load_corpus(_write(tmp_path / "r.txt", "a b c a"), min_count=5, use_cache=False)
    assert len(made) == 1 and made[0].closed


def _scratch_as(monkeypatch, make):
    """Make read_once's scratch file with ``make()``; the list of files it made."""
    made = []
    monkeypatch.setattr(corpus_cache.tempfile, "TemporaryFile", lambda **kw: made.append(make()) or made[-1])
    return made


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux's /dev/full")
@pytest.mark.parametrize("cached", [False, True])
def test_one_read_on_a_full_disk_says_where_and_what_to_do(tmp_path, monkeypatch, cached):
    # /dev/full fails every write with ENOSPC, as a full disk does; the first spill meets it
    made = _scratch_as(monkeypatch, lambda: open("/dev/full", "w+b"))
    monkeypatch.setattr(corpus_cache, "_SPILL_WORDS", 4)
    path = _write(tmp_path / "r.txt", "a b c a\nb c a b\n")
    cache = tmp_path / "cache"
    with pytest.raises(OutputError, match="scratch file for reading .*r.txt in .*No space left on device.*--cache-dir"):
        load_corpus(path, min_count=1, cache_dir=cache, use_cache=cached)
    assert len(made) == 1 and made[0].closed
    assert not cached or list(cache.iterdir()) == []  # no cache entry, not even a partial one


def test_one_read_scratch_that_cannot_be_made_says_where(tmp_path, monkeypatch):
    def refused():
        raise PermissionError(errno.EACCES, "Permission denied")

    _scratch_as(monkeypatch, refused)
    with pytest.raises(OutputError, match=f"scratch file for reading .* in {tmp_path / 'cache'}: Permission denied"):
        load_corpus(_write(tmp_path / "r.txt", "a b c a"), min_count=1, cache_dir=tmp_path / "cache")


@pytest.mark.parametrize("prune_at", [None, 100])
def test_a_cache_directory_that_cannot_be_made_is_named(tmp_path, prune_at):
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(OutputError, match=f"corpus cache directory {tmp_path / 'file' / 'c'}: .*--no-cache"):
        load_corpus(_write(tmp_path / "r.txt", "a b c a"), min_count=1, cache_dir=tmp_path / "file" / "c",
                    prune_at=prune_at)


# ---------------------------------------------------------------- bad input


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(CorpusNotFoundError, match="not found"):
        load_corpus(tmp_path / "nope.txt")
    with pytest.raises(ValueError, match="is a directory"):
        load_corpus(tmp_path)


def test_empty_corpus_and_min_count(tmp_path):
    with pytest.raises(CorpusError, match="empty"):
        load_corpus(_write(tmp_path / "e.txt", ""), cache_dir=tmp_path)
    with pytest.raises(CorpusError, match="empty"):
        load_corpus(_write(tmp_path / "w.txt", " \n\t \n"), cache_dir=tmp_path)
    with pytest.raises(CorpusError, match="no word reaches min_count=5"):
        load_corpus(_write(tmp_path / "r.txt", "a b c a"), min_count=5, cache_dir=tmp_path)


def test_corpus_type_errors():
    with pytest.raises(TypeError, match="is a str"):
        Vocab.build(["a b c", "d"], min_count=1)
    with pytest.raises(TypeError, match="re-iterable"):
        Vocab.build((s for s in [["a"]]), min_count=1)
    with pytest.raises(TypeError, match="token lists"):
        Vocab.build(42, min_count=1)


@pytest.mark.parametrize(
    "ids, exc, match",
    [
        (np.array([0, 1, 5]), ValueError, "out of range"),
        (np.array([0, -1, 2]), ValueError, "negative id"),
        (np.array([0.0, 1.0]), TypeError, "integer"),
        (np.array([], dtype=np.int32), CorpusError, "empty"),
        (np.zeros((2, 2), dtype=np.int32), ValueError, "one-dimensional"),
    ],
)
def test_generator_rejects_bad_ids(ids, exc, match):
    gen = PairGenerator(np.array([5, 4, 3, 2, 1]))
    with pytest.raises(exc, match=match):
        next(gen.batches(ids, 10))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(window=0), "window"),
        (dict(negative=-1), "negative"),
        (dict(sample=-1e-3), "sample"),
        (dict(ns_power=-1), "ns_power"),
    ],
)
def test_generator_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PairGenerator(np.array([5, 4, 3]), **kwargs)


def test_generator_rejects_bad_batch_and_counts():
    gen = PairGenerator(np.array([5, 4, 3]))
    with pytest.raises(ValueError, match="batch_size"):
        next(gen.batches(np.array([0, 1, 2]), 0))
    with pytest.raises(ValueError, match="layout"):
        next(gen.batches(np.array([0, 1, 2]), 4, layout="cols"))
    with pytest.raises(ValueError, match="positive"):
        PairGenerator(np.array([5, 0, 3]))
    with pytest.raises(ValueError, match="at least 2 words"):
        PairGenerator(np.array([5]), negative=1)
    with pytest.raises(ValueError, match="sentence_starts"):
        next(gen.batches((np.array([0, 1, 2]), np.array([0, 5])), 4))


def _resident_kib(arr):
    """Resident KiB of the mapping that holds ``arr`` (from /proc/self/smaps)."""
    addr = arr.ctypes.data
    inside = False
    with open("/proc/self/smaps") as fh:
        for line in fh:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                lo, hi = (int(x, 16) for x in head.split("-"))
                inside = lo <= addr < hi
            elif inside and head == "Rss:":
                return int(line.split()[1])
    return None


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_check_ids_scans_memory_maps_blockwise(tmp_path, monkeypatch, where):
    """Validating a memory-mapped corpus finds the range in any block and leaves the pages released."""
    import fastw2v.corpus as corpus_mod

    monkeypatch.setattr(corpus_mod, "_SCAN_BLOCK", 1 << 12)
    n = (1 << 12) * 40 + 7  # 41 blocks, 640 KiB
    arr = np.lib.format.open_memmap(tmp_path / "ids.npy", mode="w+", dtype=np.int32, shape=(n,))
    arr[:] = np.arange(n) % 50 + 3
    pos = {"first": 5, "middle": n // 2, "last": n - 1}[where]
    arr[pos] = 77
    arr.flush()
    del arr
    ids = np.load(tmp_path / "ids.npy", mmap_mode="r")
    assert corpus_mod.id_range(ids) == (3, 77)
    with pytest.raises(ValueError, match="id 77, out of range"):
        check_ids(ids, 60)
    if sys.platform.startswith("linux"):
        # at most the partial pages at either end of the array stay resident
        resident = _resident_kib(ids)
        assert resident is not None and resident <= 4 * 4
    bad = np.array(np.load(tmp_path / "ids.npy"))
    bad[pos] = -2
    np.save(tmp_path / "bad.npy", bad)
    with pytest.raises(ValueError, match="negative id"):
        check_ids(np.load(tmp_path / "bad.npy", mmap_mode="r"), 100)


def test_release_pages_keeps_private_memory(tmp_path):
    """Only shared file maps give pages back: a memmap-class copy, a copy-on-write map
    and an anonymous map keep their data (MADV_DONTNEED would zero them)."""
    from fastw2v import pages

    n = 1 << 16  # 64 pages of int32
    data = (np.arange(n, dtype=np.int32) % 97) + 1
    np.save(tmp_path / "ids.npy", data)
    shared = np.load(tmp_path / "ids.npy", mmap_mode="r")
    cow = np.load(tmp_path / "ids.npy", mmap_mode="c")
    cow[::1000] = 5  # private edits of a copy-on-write map
    cow_expected = np.array(cow)
    owned = shared.astype(np.int32)  # class np.memmap, but its own memory
    import mmap

    anon = np.frombuffer(mmap.mmap(-1, n * 4, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS), dtype=np.int32)
    anon[:] = data
    assert pages.is_mapped(shared) and pages.is_mapped(shared[10:])
    assert not pages.is_mapped(owned) and not pages.is_mapped(cow) and not pages.is_mapped(anon)
    for arr, expected in [(shared, data), (owned, data), (cow, cow_expected), (anon, data)]:
        pages.release_pages(arr, 0, n)
        np.testing.assert_array_equal(arr, expected)


def test_training_on_a_memmap_copy_sees_its_ids(tmp_path):
    """A corpus given as ``ids.astype(...)`` of a memory map trains like the same ids in plain memory."""
    from fastw2v import Word2Vec, Word2VecConfig

    rng = np.random.default_rng(0)
    ids = rng.integers(0, 50, 40_000).astype(np.int32)
    np.save(tmp_path / "ids.npy", ids)
    mapped_copy = np.load(tmp_path / "ids.npy", mmap_mode="r").astype(np.int32)
    vocab = Vocab.from_counts({f"w{i}": int(c) for i, c in enumerate(np.bincount(ids, minlength=50))})
    starts = np.arange(0, 40_001, 1000, dtype=np.int64)
    cfg = Word2VecConfig(dim=8, epochs=1, threads=1, seed=3, min_count=1)
    a = Word2Vec(cfg).fit((mapped_copy, starts), vocab=vocab)
    b = Word2Vec(cfg).fit((ids, starts), vocab=vocab)
    np.testing.assert_array_equal(mapped_copy, ids)
    np.testing.assert_array_equal(a.W_in, b.W_in)


def test_buffer_pool_reuses_only_memory_nothing_uses():
    from fastw2v.pages import BufferPool

    pool = BufferPool(keep=4, max_bytes=1 << 20, max_total=1 << 21)
    a = pool.empty(1000, np.uint64)
    addr = a.ctypes.data
    a[:] = 7
    del a
    b = pool.empty((500, 2), np.uint64)  # same bytes, another shape: the freed buffer comes back
    assert b.ctypes.data == addr and b.shape == (500, 2) and b.dtype == np.uint64
    # any view keeps the buffer in use, however derived
    for keep_alive in (lambda x: x[::3, 1], lambda x: x.view(np.int32).reshape(-1)[5:], lambda x: memoryview(x)):
        view = keep_alive(b)
        del b
        c = pool.empty(1000, np.uint64)
        assert c.ctypes.data != addr
        del c, view
        b = pool.empty(1000, np.uint64)
        assert b.ctypes.data == addr
    del b
    # a much smaller request does not pin a big buffer; too large a request is not pooled
    small = pool.empty(10, np.uint64)
    assert small.ctypes.data != addr
    big = pool.empty(1 << 18, np.uint64)  # 2 MiB > max_bytes
    assert big.base is None and pool.held_bytes <= 1 << 21
    # limits: never more than keep buffers, nor max_total bytes
    held = [pool.empty(100_000 + i, np.uint8) for i in range(6)]
    assert len(pool._buffers) <= 4 and pool.held_bytes <= 1 << 21
    held[0][:] = 1  # forgotten buffers stay valid for their arrays
    pool.clear()
    assert pool.held_bytes == 0 and held[-1].shape == (100_005,)
