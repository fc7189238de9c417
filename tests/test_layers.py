"""The import graph keeps the layers the README's module map names.

Kernels import NumPy and Numba only (besides the standard library and fastw2v's
lower layers); only the Keras modules import Keras; only the backend glue imports
TensorFlow or JAX. Read from the source with ``ast``, so nothing is imported.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fastw2v"
KERNELS = {"sampling", "permutation", "pairs", "segments", "keras_compat", "hogwild", "prefetch"}
KERAS = {"keras_models", "keras_trainer", "keras_embedding", "keras_tf", "keras_jax"}
# keras_backend checks the backend before Keras loads; its glue() imports Keras only when a Keras module asks
IMPORTS_KERAS = KERAS | {"keras_backend"}
NUMBA = {"numpy", "numba", "llvmlite"}  # llvmlite is Numba's own (prefetch's intrinsic)
BACKEND = {"tensorflow": {"keras_tf"}, "jax": {"keras_jax"}}
STDLIB = set(sys.stdlib_module_names)


def third_party_imports(path: Path) -> set:
    """Top-level names of the non-stdlib, non-relative modules ``path`` imports (anywhere in it)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return {n for n in names if n not in STDLIB and n not in ("fastw2v", "__future__")}


MODULES = sorted(p.stem for p in PACKAGE.glob("*.py"))


@pytest.mark.parametrize("name", MODULES)
def test_module_imports_only_what_its_layer_allows(name):
    found = third_party_imports(PACKAGE / f"{name}.py")
    if name in KERNELS:
        assert found <= NUMBA, f"kernel {name} imports {sorted(found - NUMBA)}"
    if name not in IMPORTS_KERAS:
        assert "keras" not in found, f"{name} imports keras"
    for backend, allowed in BACKEND.items():
        if name not in allowed:
            assert backend not in found, f"{name} imports {backend}"


def test_the_kernel_list_names_real_modules():
    assert KERNELS <= set(MODULES) and KERAS <= set(MODULES)
