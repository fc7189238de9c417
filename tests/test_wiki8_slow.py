"""Opt-in checks on the real corpus: FASTW2V_SLOW=1, with ../shared/data/wiki8.txt.xz or $FASTW2V_WIKI8."""

import os

import numpy as np
import pytest

from helpers import require_keras, wiki8_path

pytestmark = pytest.mark.slow

if not os.environ.get("FASTW2V_SLOW"):
    pytest.skip("slow tests are opt-in: set FASTW2V_SLOW=1", allow_module_level=True)
if wiki8_path() is None or not wiki8_path().exists():
    pytest.skip("wiki8.txt.xz not found (set FASTW2V_WIKI8)", allow_module_level=True)


def test_wiki8_vocabulary_matches_published_figures(cache_dir):
    from fastw2v import PairGenerator, load_corpus

    vocab, corpus = load_corpus(wiki8_path(), min_count=5, cache_dir=cache_dir)
    # figures from the corpus's README
    assert corpus.raw_words == 16_938_158
    assert len(vocab) == 67_889
    assert vocab.words[:3] == ["the", "of", "and"]
    assert corpus.n_sentences == -(-16_938_158 // 10_000)  # text8-style: one line, cut every 10,000 words
    gen = PairGenerator(vocab, window=5, negative=5, sample=1e-3, seed=1)
    rows = gen.rows_in_epoch(corpus, 0)
    # each kept token has 2 E[b] = window + 1 kept contexts on average (fewer at the 1,694 sentence edges)
    kept = float(np.dot(gen.tables.keep_prob, vocab.counts))
    assert 0.99 * kept * (gen.window + 1) < rows < 1.005 * kept * (gen.window + 1)


def test_keras_defaults_beat_the_large_batch_targets_on_wiki8(cache_dir):
    """Keras sgns at its defaults (65,536 rows, negatives shared by 32 rows, row-wise
    Adagrad at 0.25 held for the first three quarters of the run's words, then decayed
    linearly to 0), 2 epochs, seed 1. The initial weights are NumPy draws from the seed,
    so both backends start alike and a run repeats exactly on one machine. The seed stays
    fixed because the WordSim margin is small against the spread between seeds
    (benchmarks/README.md, "Seeds")."""
    require_keras()
    from pathlib import Path

    from fastw2v import KerasOptions, Word2VecConfig, load_corpus
    from fastw2v.evaluate import evaluate_analogies, evaluate_word_pairs
    from fastw2v.keras_trainer import KerasTrainer

    eval_dir = Path(wiki8_path()).parent / "eval"
    if not (eval_dir / "questions-words.txt").exists():
        pytest.skip("the evaluation files are not beside the corpus")
    vocab, corpus = load_corpus(wiki8_path(), min_count=5, cache_dir=cache_dir)
    trainer = KerasTrainer(Word2VecConfig(epochs=2, seed=1), vocab, KerasOptions()).fit(corpus)
    analogy = evaluate_analogies(trainer.vectors, eval_dir / "questions-words.txt")["accuracy"]
    wordsim = evaluate_word_pairs(trainer.vectors, eval_dir / "wordsim353.tsv")["spearman"]
    assert analogy > 0.28 and wordsim > 0.62, (analogy, wordsim)
