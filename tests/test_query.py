"""`python -m fastw2v.query`: neighbours, analogies, the prompt, and bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest

from helpers import assert_one_line_error
from fastw2v.errors import UsageError
from fastw2v.query import answer, parse_query
from fastw2v.vectors import Vectors

QUERY = [sys.executable, "-m", "fastw2v.query"]


def _royal_vectors():
    """king - man + woman lands on queen; paris, berlin and rome sit together."""
    rng = np.random.default_rng(0)
    gender, royal, city = rng.normal(size=(3, 16))
    words = {"man": gender, "woman": -gender, "king": royal + gender, "queen": royal - gender,
             "paris": city + 0.1 * rng.normal(size=16), "berlin": city + 0.1 * rng.normal(size=16),
             "rome": city + 0.1 * rng.normal(size=16)}
    for i in range(30):
        words[f"noise{i}"] = rng.normal(size=16)
    return Vectors(list(words), np.array(list(words.values()), dtype=np.float32))


def _run(args, stdin=None):
    return subprocess.run(QUERY + [str(a) for a in args], capture_output=True, text=True, input=stdin, timeout=120)


def test_parse_query():
    assert parse_query("king") == (["king"], [])
    assert parse_query("king - man + woman") == (["king", "woman"], ["man"])
    assert parse_query("paris berlin") == (["paris", "berlin"], [])
    assert parse_query("e-mail - mail") == (["e-mail"], ["mail"])
    for bad, match in [("", "empty"), ("   ", "empty"), ("king -", "ends with an operator"),
                       ("king + - man", "two operators"), ("- man", "no positive word")]:
        with pytest.raises(UsageError, match=match):
            parse_query(bad)


def test_answers_match_vectors_methods():
    v = _royal_vectors()
    assert answer(v, ["king"], [], 5) == v.most_similar("king", topn=5)
    analogy = answer(v, ["king", "woman"], ["man"], 3)
    assert analogy[0][0] == "queen"
    assert [w for w, _ in analogy] == [w for w, _ in v.analogy("man", "king", "woman", topn=3)]
    with pytest.raises(UsageError, match="not in the vocabulary: emperor, empress"):
        answer(v, ["emperor", "king"], ["empress"], 3)


@pytest.mark.integration
@pytest.mark.parametrize("suffix", [".bin", ".txt"])
def test_one_shot_queries_text_and_json(tmp_path, suffix):
    path = tmp_path / f"v{suffix}"
    _royal_vectors().save(path)
    r = _run([path, "king", "-", "man", "+", "woman", "--topn", "3"])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "Nearest to king + woman - man:" and lines[1].split()[0] == "queen" and len(lines) == 4
    r = _run([path, "paris", "--json", "--topn", "2"])
    out = json.loads(r.stdout)
    assert out["positive"] == ["paris"] and {x["word"] for x in out["results"]} == {"berlin", "rome"}


@pytest.mark.integration
def test_reads_gensim_files(tmp_path):
    pytest.importorskip("gensim")
    from gensim.models import KeyedVectors

    v = _royal_vectors()
    kv = KeyedVectors(v.dim)
    kv.add_vectors(v.words, v.vectors)
    for binary in (True, False):
        path = tmp_path / f"gensim-{binary}.w2v"
        kv.save_word2vec_format(str(path), binary=binary)
        r = _run([path, "king", "-", "man", "+", "woman", "--json", "--topn", "1"])
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["results"][0]["word"] == "queen"


@pytest.mark.integration
def test_interactive_prompt_survives_bad_queries(tmp_path):
    path = tmp_path / "v.bin"
    _royal_vectors().save(path)
    r = _run([path, "--topn", "2", "--json"], stdin="king\n\nnosuchword\nking - man + woman\n- man\nEXIT\nparis\n")
    assert r.returncode == 0, r.stderr
    answers = [json.loads(line) for line in r.stdout.splitlines()]
    assert [a["query"] for a in answers] == ["king", "king - man + woman"]  # nothing after EXIT
    assert answers[1]["results"][0]["word"] == "queen"
    assert "not in the vocabulary: nosuchword" in r.stderr and "no positive word" in r.stderr
    r = _run([path], stdin="rome\n")  # end of input ends the prompt too
    assert r.returncode == 0 and r.stdout.startswith("Nearest to rome:")


@pytest.mark.integration
def test_bad_input_gets_one_line_and_exit_2(tmp_path):
    good = tmp_path / "v.bin"
    _royal_vectors().save(good)
    truncated = tmp_path / "cut.bin"
    truncated.write_bytes(good.read_bytes()[:300])
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat\n" * 20)
    cases = [([tmp_path / "missing.bin", "king"], "not found"),
             ([truncated, "king"], "truncated"),
             ([corpus, "king"], str(corpus)),
             ([good, ""], "empty"),
             ([good, "king", "--topn", "0"], "--topn must be >= 1"),
             ([good, "emperor"], "not in the vocabulary: emperor")]
    for args, match in cases:
        assert_one_line_error(_run(args), match)
