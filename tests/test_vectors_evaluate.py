import struct
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from fastw2v.evaluate import evaluate_analogies, evaluate_word_pairs, rankdata, spearman
from fastw2v.vectors import Vectors, VectorsFormatError


def _toy():
    words = ["king", "queen", "man", "woman", "paris", "france", "rome", "italy"]
    # hand-made: gender along axis 1, royalty along axis 0, capital-of along axis 2, country id along 3/4
    vecs = np.array([
        [1, 1, 0, 0, 0], [1, -1, 0, 0, 0], [0, 1, 0, 0, 0], [0, -1, 0, 0, 0],
        [0, 0, 1, 1, 0], [0, 0, 0, 1, 0], [0, 0, 1, 0, 1], [0, 0, 0, 0, 1],
    ], dtype=np.float32)
    return Vectors(words, vecs, counts=np.arange(8, 0, -1))


def test_lookup_protocol():
    v = _toy()
    assert len(v) == 8 and "king" in v and "emperor" not in v
    assert v.index["queen"] == 1 and v.key_to_index is v.index
    np.testing.assert_array_equal(v["man"], [0, 1, 0, 0, 0])
    with pytest.raises(KeyError, match="emperor"):
        v["emperor"]


def test_most_similar_similarity_and_analogy():
    v = _toy()
    assert v.most_similar("man", topn=1)[0][0] == "king"
    assert "man" not in [w for w, _ in v.most_similar("man", topn=7)]
    excluded = v.most_similar("man", topn=7, exclude=["king"])
    assert "king" not in [w for w, _ in excluded] and len(excluded) == 6
    assert excluded[-1][0] == "woman" and excluded[-1][1] == pytest.approx(-1.0)
    assert v.similarity("king", "queen") == pytest.approx(0.0, abs=1e-6)
    assert v.similarity("man", "king") == pytest.approx(1 / np.sqrt(2), rel=1e-6)
    for method in ("3cosadd", "3cosmul"):
        assert v.analogy("man", "woman", "king", method=method)[0][0] == "queen"
        assert v.analogy("france", "paris", "italy", method=method)[0][0] == "rome"
    q = v.most_similar(np.array([1, 0, 0, 0, 0], np.float32), topn=2)
    assert {w for w, _ in q} == {"king", "queen"}
    with pytest.raises(ValueError, match="3cosadd"):
        v.analogy("man", "woman", "king", method="nope")


@pytest.mark.parametrize("suffix", [".txt", ".bin"])
def test_save_load_roundtrip_exact(tmp_path, suffix):
    rng = np.random.default_rng(0)
    v = Vectors([f"w{i}" for i in range(50)] + ["caf\u00e9"], rng.normal(size=(51, 7)).astype(np.float32))
    path = tmp_path / f"v{suffix}"
    v.save(path)
    w = Vectors.load(path)
    assert w.words == v.words
    assert np.array_equal(w.vectors, v.vectors)
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_binary_layout_follows_spec(tmp_path):
    v = Vectors(["a", "bb"], np.array([[1.0, -2.0], [0.5, 3.0]], dtype=np.float32))
    v.save(tmp_path / "v.bin")
    raw = (tmp_path / "v.bin").read_bytes()
    expect = b"2 2\n" + b"a " + struct.pack("<2f", 1.0, -2.0) + b"\n" + b"bb " + struct.pack("<2f", 0.5, 3.0) + b"\n"
    assert raw == expect
    v.save(tmp_path / "v.txt")
    lines = (tmp_path / "v.txt").read_text().splitlines()
    assert lines[0] == "2 2" and lines[1].split() == ["a", "1", "-2"]


def test_gensim_interop_both_ways(tmp_path):
    pytest.importorskip("gensim")
    from gensim.models import KeyedVectors

    rng = np.random.default_rng(1)
    v = Vectors([f"w{i}" for i in range(30)], rng.normal(size=(30, 5)).astype(np.float32))
    for binary in (True, False):
        path = tmp_path / ("ours.bin" if binary else "ours.txt")
        v.save(path)
        kv = KeyedVectors.load_word2vec_format(str(path), binary=binary)
        assert list(kv.index_to_key) == v.words
        np.testing.assert_array_equal(kv.vectors, v.vectors)
        path2 = tmp_path / ("theirs.bin" if binary else "theirs.txt")
        kv.save_word2vec_format(str(path2), binary=binary)
        w = Vectors.load(path2)
        assert w.words == v.words
        np.testing.assert_allclose(w.vectors, v.vectors, rtol=1e-6)


@pytest.mark.parametrize(
    "content, match",
    [
        (b"3 2\na 1 2\nb 3 4\n", "promises 3 rows but the file ends after 2"),
        (b"1 2\na 1 2\nb 3 4\n", ":3: more rows"),
        (b"2 3\na 1 2 3\nb 3 4\n", ":3: expected a word and 3 numbers, got 2"),
        (b"2 2\na 1 x\nb 3 4\n", ":2: not a number"),
        (b"two 2\n", ":1: header"),
        (b"", ":1: header"),
        (b"2 2\na 1 2\na 3 4\n", "duplicate word 'a'"),
    ],
)
def test_malformed_text_files(tmp_path, content, match):
    (tmp_path / "v.txt").write_bytes(content)
    with pytest.raises(VectorsFormatError, match=match):
        Vectors.load(tmp_path / "v.txt", binary=False)


def test_malformed_binary_files(tmp_path):
    rng = np.random.default_rng(2)
    v = Vectors(["a", "b", "c"], rng.normal(size=(3, 4)).astype(np.float32))
    v.save(tmp_path / "v.bin")
    raw = (tmp_path / "v.bin").read_bytes()
    (tmp_path / "trunc.bin").write_bytes(raw[:-10])
    with pytest.raises(VectorsFormatError, match="row 3 .* truncated"):
        Vectors.load(tmp_path / "trunc.bin", binary=True)
    (tmp_path / "lying.bin").write_bytes(b"5 4\n" + raw.split(b"\n", 1)[1])
    with pytest.raises(VectorsFormatError, match="row 4 of 5"):
        Vectors.load(tmp_path / "lying.bin", binary=True)
    (tmp_path / "dim.bin").write_bytes(b"3 3\n" + raw.split(b"\n", 1)[1])
    with pytest.raises(VectorsFormatError):
        Vectors.load(tmp_path / "dim.bin", binary=True)
    with pytest.raises(FileNotFoundError):
        Vectors.load(tmp_path / "missing.bin")


def test_save_refuses_words_with_whitespace(tmp_path):
    with pytest.raises(ValueError, match="whitespace"):
        Vectors(["a b"], np.zeros((1, 2))).save(tmp_path / "v.txt")


# ------------------------------------------------------------------ evaluation


def test_analogy_evaluation_on_hand_made_file(tmp_path):
    v = _toy()
    q = tmp_path / "q.txt"
    q.write_text(": royalty\nMAN WOMAN KING QUEEN\nman woman king man\n: capitals\nfrance paris italy rome\n"
                 "france paris spain madrid\n")
    r = evaluate_analogies(v, q, restrict_vocab=None)
    assert (r["correct"], r["total"], r["skipped"]) == (2, 3, 1)
    assert r["accuracy"] == pytest.approx(2 / 3)
    assert [(s["section"], s["correct"], s["total"]) for s in r["sections"]] == [("royalty", 1, 2), ("capitals", 1, 1)]
    # restricting the vocabulary skips questions with rarer words
    r = evaluate_analogies(v, q, restrict_vocab=4)
    assert (r["total"], r["skipped"]) == (2, 2)


def _write(path, text):
    path.write_text(text)
    return path


def test_pairs_evaluation_and_spearman(tmp_path):
    v = _toy()
    p = tmp_path / "p.tsv"
    body = "man\tking\t9\nman\tqueen\t1\nking\tqueen\t4\nman\tunicorn\t5\n"
    p.write_text("# comment\nWord 1\tWord 2\tHuman (mean)\n" + body)  # a header row, as WordSim-353 has
    r = evaluate_word_pairs(v, p)
    assert (r["pairs"], r["covered"]) == (4, 3)
    assert evaluate_word_pairs(v, p) == evaluate_word_pairs(v, _write(tmp_path / "plain.tsv", body))
    bad = _write(tmp_path / "bad.tsv", body + "king\tman\thigh\n")  # not a number after the first line
    with pytest.raises(ValueError, match=r"bad.tsv:5: score 'high' is not a number"):
        evaluate_word_pairs(v, bad)
    sims = [v.similarity("man", "king"), v.similarity("man", "queen"), v.similarity("king", "queen")]
    assert r["spearman"] == pytest.approx(stats.spearmanr(sims, [9, 1, 4]).statistic)
    rng = np.random.default_rng(3)
    a = rng.integers(0, 5, size=50).astype(float)
    b = a + rng.normal(size=50)
    np.testing.assert_allclose(rankdata(a), stats.rankdata(a))
    assert spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic)


@pytest.mark.integration
def test_evaluate_cli(tmp_path):
    v = _toy()
    v.save(tmp_path / "v.bin")
    (tmp_path / "q.txt").write_text(": royalty\nman woman king queen\n")
    (tmp_path / "p.txt").write_text("man king 9\nman queen 1\nking queen 4\n")
    out = subprocess.run([sys.executable, "-m", "fastw2v.evaluate", str(tmp_path / "v.bin"), "--analogies",
                          str(tmp_path / "q.txt"), "--pairs", str(tmp_path / "p.txt")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "royalty" in out.stdout and "100.0%" in out.stdout and "Spearman" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "fastw2v.evaluate", str(tmp_path / "nope.bin"), "--analogies",
                          str(tmp_path / "q.txt")], capture_output=True, text=True)
    assert bad.returncode == 2 and "not found" in bad.stderr and "Traceback" not in bad.stderr


def test_analogy_accuracy_agrees_with_gensim(tmp_path):
    """Same vectors, same questions: fastw2v and gensim's evaluate_word_analogies count
    the same questions and get the same ones right. Answers are planted (the answer's
    vector is b - a + c), half of them with an exact tie against a duplicate word, so
    the tie-breaking decides; mixed-case spellings are included."""
    pytest.importorskip("gensim")
    from gensim.models import KeyedVectors

    rng = np.random.default_rng(11)
    dim = 12
    base = rng.normal(size=(200, dim))
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    words = [f"w{i}" for i in range(200)]
    vecs = list(base)
    questions = [": planted"]
    for k in range(60):
        a, b, c = rng.choice(200, size=3, replace=False)
        target = base[b] - base[a] + base[c]
        words.append(f"ans{k}")
        vecs.append(target)
        expected = f"ans{k}"
        if k % 2 == 0:  # an exact twin: the tie-break picks one of the two
            words.append(f"twin{k}")
            vecs.append(target.copy())
            expected = f"twin{k}" if k % 4 == 0 else expected
        questions.append(f"w{a} w{b} w{c} {expected}")
    words += ["Paris", "paris"]
    vecs += [base[0] * 2.0, base[0]]  # the same direction: a tie in cosine, in two spellings
    questions += [": case", "w1 w2 PARIS w3", "paris w4 w5 w6", "W7 W8 W9 W10", "w11 w12 w13 paris"]
    for _ in range(40):
        a, b, c, d = rng.choice(200, size=4, replace=False)
        questions.append(f"w{a} w{b} w{c} w{d}")
    vecs = np.array(vecs, dtype=np.float32)
    kv = KeyedVectors(dim)
    kv.add_vectors(words, vecs)
    path = tmp_path / "q.txt"
    path.write_text("\n".join(questions) + "\n")
    ours = evaluate_analogies(Vectors(words, vecs), path, restrict_vocab=len(words))
    score, sections = kv.evaluate_word_analogies(str(path), restrict_vocab=len(words))
    theirs = {s["section"]: (len(s["correct"]), len(s["correct"]) + len(s["incorrect"])) for s in sections}
    for s in ours["sections"]:
        assert (s["correct"], s["total"]) == theirs[s["section"]], s["section"]
    assert ours["accuracy"] == pytest.approx(score)
    planted = ours["sections"][0]
    assert planted["total"] == 60 and 30 <= planted["correct"] < 60  # the ties really decide some questions


def _random_vectors(seed=0, n=300, dim=16):
    rng = np.random.default_rng(seed)
    return Vectors([f"w{i}" for i in range(n)], rng.standard_normal((n, dim)).astype(np.float32),
                   counts=np.arange(n, 0, -1) * 10)


def test_most_similar_positive_negative_and_doesnt_match_agree_with_gensim():
    pytest.importorskip("gensim")
    v = _random_vectors()
    kv = v.to_gensim()
    rng = np.random.default_rng(1)
    vec = rng.standard_normal(v.dim).astype(np.float32)
    queries = [dict(positive=["w3"]), dict(positive=["w3", "w40"], negative=["w7"]), dict(negative=["w11"]),
               dict(positive=[("w5", 2.0), "w9"], negative=[("w2", 0.5)]), dict(positive=[vec, "w8"]),
               dict(positive="w12", negative="w13", topn=3)]
    for q in queries:
        ours, theirs = v.most_similar(**q), kv.most_similar(**q)
        assert [w for w, _ in ours] == [w for w, _ in theirs], q
        np.testing.assert_allclose([s for _, s in ours], [s for _, s in theirs], rtol=1e-5, atol=1e-6)
    for words in (["w1", "w2", "w3", "w4"], ["w10", "w200", "w30"], ["w5", "w6", "nope", "w7"]):
        assert v.doesnt_match(words) == kv.doesnt_match(words), words
    with pytest.raises(ValueError, match="positive or a negative"):
        v.most_similar()
    with pytest.raises(ValueError, match="none of"):
        v.doesnt_match(["nope", "nada"])


def test_vectors_go_to_gensim_and_back_in_memory():
    pytest.importorskip("gensim")
    v = _random_vectors(seed=2, n=50)
    kv = v.to_gensim()
    assert list(kv.index_to_key) == v.words and np.array_equal(kv.vectors, v.vectors)
    assert [kv.get_vecattr(w, "count") for w in v.words[:3]] == list(v.counts[:3])
    back = Vectors.from_gensim(kv)
    assert back.words == v.words and np.array_equal(back.vectors, v.vectors) and np.array_equal(back.counts, v.counts)
    assert back.most_similar("w4", topn=5) == v.most_similar("w4", topn=5)
    for wrong in ({"w0": [1.0]}, v, np.zeros((2, 3))):
        with pytest.raises(TypeError, match="from_gensim takes a gensim KeyedVectors, got "):
            Vectors.from_gensim(wrong)


def test_gensim_interop_without_gensim_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "gensim", None)
    monkeypatch.setitem(sys.modules, "gensim.models", None)
    with pytest.raises(ImportError, match=r"install the 'bench' extra"):
        _random_vectors().to_gensim()
    with pytest.raises(ImportError, match=r"from_gensim needs gensim"):
        Vectors.from_gensim(object())
