"""The declared contracts between parts: each backend's glue provides what the trainer asks of it."""

import importlib
import importlib.util

import pytest

from helpers import planted_corpus, require_keras
from fastw2v import KerasOptions, Vocab, Word2Vec, Word2VecConfig
from fastw2v.contract import missing_members
from fastw2v.runner import Trainer


def _glue_module(name):
    if importlib.util.find_spec(name) is None:
        pytest.skip(f"{name} is not installed")
    return importlib.import_module(f"fastw2v.keras_{'tf' if name == 'tensorflow' else 'jax'}")


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_each_backend_glue_provides_the_declared_contract(backend):
    require_keras()
    from fastw2v.keras_glue import BackendGlue, MultiWorkerGlue, OwnLoopGlue, Strategy

    module = _glue_module(backend)
    assert missing_members(module, BackendGlue) == []
    assert module.NAME == backend
    strategy = module.Strategy("default")
    assert missing_members(strategy, Strategy) == []
    assert strategy.name == "default" and strategy.num_replicas == 1 and strategy.batch_multiple == 1
    # TensorFlow alone runs the trainer's own loop and multi-worker groups
    own_loop = missing_members(module, OwnLoopGlue) == []
    multiworker = missing_members(module, MultiWorkerGlue) == []
    assert (own_loop, multiworker) == ((True, True) if backend == "tensorflow" else (False, False))


def test_a_glue_lacking_a_member_is_named():
    require_keras()
    from types import SimpleNamespace

    from fastw2v.keras_glue import BackendGlue

    partial = SimpleNamespace(NAME="x", train_step=lambda *a: None)
    missing = missing_members(partial, BackendGlue)
    assert "scatter_add" in missing and "Strategy" in missing and "NAME" not in missing
    assert "step_input" not in missing  # OwnLoopGlue's, not the base contract's


def test_the_hogwild_trainer_provides_the_runners_contract():
    assert missing_members(Word2Vec(Word2VecConfig()), Trainer) == []


def test_the_keras_trainer_provides_the_runners_contract():
    require_keras()
    from fastw2v.keras_trainer import KerasTrainer

    vocab = Vocab.build(planted_corpus(0, sentences=20)[0], min_count=1)
    trainer = KerasTrainer(Word2VecConfig(dim=8), vocab, KerasOptions(batch_size=256))
    assert missing_members(trainer, Trainer) == []


def test_a_trainer_lacking_the_checkpoint_hook_is_named():
    class Old:
        backend, is_chief, n_workers = "hogwild", True, 1

        def fit(self, corpus, **kw):
            return self

    missing = missing_members(Old(), Trainer)
    assert "request_checkpoint" in missing and "checkpoint_state" in missing and "fit" not in missing
