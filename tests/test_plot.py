"""`python -m fastw2v.plot`: the map, its layouts, projector files, and bad input."""

import subprocess
import sys

import numpy as np
import pytest

from helpers import assert_one_line_error, planted_corpus
from fastw2v import Word2Vec
from fastw2v.plot import map_points, project_2d
from fastw2v.vectors import Vectors

PLOT = [sys.executable, "-m", "fastw2v.plot"]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def planted_vectors(tmp_path_factory):
    corpus, _ = planted_corpus(3)
    model = Word2Vec(dim=16, window=3, negative=5, sample=0, min_count=1, epochs=5, threads=1, seed=2).fit(corpus)
    path = tmp_path_factory.mktemp("v") / "v.bin"
    model.vectors.save(path)
    return path


def _run(args):
    return subprocess.run(PLOT + [str(a) for a in args], capture_output=True, text=True, timeout=300)


def test_map_points_groups_words_with_their_neighbours(planted_vectors):
    v = Vectors.load(planted_vectors)
    points, group = map_points(v, ["g0w0", "g1w0"], 3)
    assert points[0] == "g0w0" and points[4] == "g1w0" and len(points) == 8
    assert group == [0, 0, 0, 0, 1, 1, 1, 1]
    assert all(p.startswith("g0") for p in points[:4]) and all(p.startswith("g1") for p in points[4:])


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_layout_separates_planted_groups(planted_vectors, method):
    """Points of two planted groups land in two separate regions: every point is nearer
    its own group's centre than the other's."""
    if method == "tsne":
        pytest.importorskip("sklearn")
    v = Vectors.load(planted_vectors)
    points, group = map_points(v, ["g0w0", "g3w0"], 7)
    coords, used = project_2d(v.vectors[[v.index[p] for p in points]], method, seed=1)
    assert used == {"pca": "PCA", "tsne": "t-SNE"}[method] and coords.shape == (len(points), 2)
    group = np.array(group)
    centres = np.array([coords[group == g].mean(axis=0) for g in (0, 1)])
    nearest = np.argmin(np.linalg.norm(coords[:, None, :] - centres[None], axis=2), axis=1)
    assert np.array_equal(nearest, group)


@pytest.mark.integration
def test_cli_writes_a_png_and_projector_files(planted_vectors, tmp_path):
    out, tb = tmp_path / "map.png", tmp_path / "tb"
    r = _run([planted_vectors, "--words", "g0w0,g1w1,g2w2", "--neighbours", "4", "--output", out, "--method", "pca",
              "--tensorboard", tb])
    assert r.returncode == 0, r.stderr
    assert out.read_bytes()[:8] == PNG and out.stat().st_size > 10_000
    assert "PCA, 15 words" in r.stderr
    assert (tb / "metadata.tsv").read_text().count("\n") == 48
    assert np.loadtxt(tb / "vectors.tsv", delimiter="\t").shape == (48, 16)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.integration
def test_bad_input_gets_one_line_and_exit_2(planted_vectors, tmp_path):
    cases = [([tmp_path / "missing.bin", "--words", "a", "--output", tmp_path / "m.png"], "not found"),
             ([planted_vectors, "--words", "g0w0,emperor", "--output", tmp_path / "m.png"], "not in the vocabulary: emperor"),
             ([planted_vectors, "--words", "", "--output", tmp_path / "m.png"], "--words is empty"),
             ([planted_vectors, "--words", "g0w0"], "nothing to do"),
             ([planted_vectors, "--words", "g0w0", "--neighbours", "-1", "--output", tmp_path / "m.png"], "--neighbours"),
             ([planted_vectors, "--words", "g0w0", "--output", tmp_path / "no" / "m.png"], "does not exist")]
    for args, match in cases:
        assert_one_line_error(_run(args), match)


@pytest.mark.integration
def test_without_scikit_learn_auto_falls_back_to_pca(planted_vectors, tmp_path):
    code = ("import sys; sys.modules['sklearn'] = None\n"
            "from fastw2v.plot import main\n"
            "sys.exit(main(sys.argv[1:]))")
    out = tmp_path / "m.png"
    r = subprocess.run([sys.executable, "-c", code, str(planted_vectors), "--words", "g0w0,g1w0", "--output",
                        str(out)], capture_output=True, text=True)
    assert r.returncode == 0 and "(PCA," in r.stderr and out.read_bytes()[:8] == PNG, r.stderr
    r = subprocess.run([sys.executable, "-c", code, str(planted_vectors), "--words", "g0w0", "--output", str(out),
                        "--method", "tsne"], capture_output=True, text=True)
    assert_one_line_error(r, "pip install 'fastw2v[plot]'")
