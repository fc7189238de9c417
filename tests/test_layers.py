"""The import graph keeps the layers of the README's module map.

Every module of fastw2v has a layer (:data:`LAYER`). No import of fastw2v's own
modules points to a higher layer: not at module level, not inside a function or a
method (a lazy import is still an import), not through ``importlib.import_module``.
The graph has no cycle, within a layer either. Outside the package: kernels import
NumPy and Numba only; only the Keras modules import Keras; only the backend glue
imports TensorFlow or JAX; and ``import fastw2v`` imports none of the three.

Everything is read from the source with ``ast``, so nothing is imported.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path
from typing import Dict, List, NamedTuple, Set

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "fastw2v"


def _module_name(path: Path) -> str:
    """``fastw2v/x.py`` is ``x``; ``fastw2v/sub/y.py`` is ``sub.y``; a package's ``__init__`` is its
    name (the top one's ``__init__``)."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) or "__init__"


MODULES = sorted(_module_name(p) for p in PACKAGE.rglob("*.py"))

FOUNDATIONS, DATA, KERNELS, MODELS, KERAS, RUN, COMMANDS, API = range(8)
#: the first cell of each row of the README's module table
LAYER_NAMES = {FOUNDATIONS: "foundations", DATA: "data", KERNELS: "kernels", MODELS: "models", KERAS: "Keras",
               RUN: "the run", COMMANDS: "command lines", API: "the package"}

#: every module's layer; a new module fails test_every_module_has_a_layer until it is placed here
LAYER: Dict[str, int] = {
    # foundations: the standard library, NumPy, and tqdm for the progress bars
    "errors": FOUNDATIONS,
    "contract": FOUNDATIONS,
    "constants": FOUNDATIONS,
    "config": FOUNDATIONS,
    "atomic": FOUNDATIONS,
    "memory": FOUNDATIONS,
    "pages": FOUNDATIONS,
    "heap": FOUNDATIONS,
    "quiet": FOUNDATIONS,
    "keras_backend": FOUNDATIONS,  # which backend, read before Keras is imported; imports no Keras
    "progress": FOUNDATIONS,  # the progress bars, for the download as for training
    "cli": FOUNDATIONS,  # what the command lines share: --help's formatter, the program's name, exit statuses
    # the multi-worker group, in one place: who the workers are, their watch, a run as one of them
    "multiworker": FOUNDATIONS,
    "multiworker.cluster": FOUNDATIONS,
    "multiworker.peers": FOUNDATIONS,
    "multiworker.group": FOUNDATIONS,
    # data
    "corpus": DATA,
    "vocab": DATA,
    "download": DATA,
    "corpus_cache": DATA,
    # kernels: NumPy and Numba only
    "prefetch": KERNELS,
    "sampling": KERNELS,
    "permutation": KERNELS,
    "pairs": KERNELS,
    "segments": KERNELS,
    "keras_compat": KERNELS,
    "hogwild": KERNELS,
    # models
    "checkpoint": MODELS,
    "vectors": MODELS,
    "evaluate": MODELS,  # its main() is a thin command line over the models layer alone
    "feed": MODELS,
    "word2vec": MODELS,
    # Keras: the only modules that import Keras; the glue the only ones that import a backend
    "keras_glue": KERAS,
    "keras_tf": KERAS,
    "keras_jax": KERAS,
    "keras_optimizers": KERAS,
    "keras_models": KERAS,
    "keras_embedding": KERAS,
    "keras_trainer": KERAS,
    # the run
    "runner": RUN,
    # command lines
    "train": COMMANDS,
    "query": COMMANDS,
    "plot": COMMANDS,
    # the package: gathers the public names of every layer (Keras' lazily); no module imports it
    "__init__": API,
}

#: outside packages each layer may import (the standard library always)
THIRD_PARTY = {
    FOUNDATIONS: {"numpy", "tqdm"},
    DATA: {"numpy"},
    KERNELS: {"numpy", "numba", "llvmlite"},  # llvmlite is Numba's own (prefetch's intrinsic)
    MODELS: {"numpy", "gensim"},  # gensim: Vectors.to_gensim / from_gensim, imported when called
    KERAS: {"numpy", "keras", "tensorflow", "jax"},
    RUN: set(),
    COMMANDS: {"numpy", "sklearn", "matplotlib"},  # plot's, imported when called
    API: set(),
}
#: the optional extras: imported inside a function, so that importing the module needs none of them
OPTIONAL = {"gensim", "sklearn", "matplotlib"}
BACKEND = {"tensorflow": {"keras_tf"}, "jax": {"keras_jax"}}
HEAVY = {"keras", "tensorflow", "jax"}
STDLIB = set(sys.stdlib_module_names)


class Import(NamedTuple):
    line: int
    target: str  # a module of fastw2v ("__init__" for the package's own names), or an outside package
    in_function: bool
    internal: bool


def _path(name: str) -> Path:
    if name == "__init__":
        return PACKAGE / "__init__.py"
    base = PACKAGE.joinpath(*name.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def _tree(name: str) -> ast.Module:
    path = _path(name)
    return ast.parse(path.read_text(), filename=str(path.relative_to(ROOT)))


def _in_function(node: ast.AST, parents: Dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return True
    return False


def _package_of(name: str) -> List[str]:
    """The package ``name``'s relative imports start from, as parts below ``fastw2v``."""
    if name == "__init__":
        return []
    parts = name.split(".")
    return parts if _path(name).name == "__init__.py" else parts[:-1]


def _resolve(parts: List[str]) -> str:
    """The module of fastw2v that ``fastw2v.<parts>`` names: the longest prefix that is one."""
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in MODULES:
            return ".".join(parts[:n])
    return "__init__" if not parts else ".".join(parts)  # an unknown name: test_imports_name_real_modules


def _parents(target: str) -> List[str]:
    """``a.b.c`` and the packages of fastw2v it lies in: ``a``, ``a.b``, then ``a.b.c``."""
    parts = target.split(".")
    return [".".join(parts[:n]) for n in range(1, len(parts)) if ".".join(parts[:n]) in MODULES] + [target]


def _from_targets(path: List[str], names) -> List[str]:
    """``from fastw2v.<path> import a, b``: each a submodule where one is named, else the module itself."""
    found = []
    for alias in names:
        sub = ".".join(path + [alias.name])
        found.append(sub if sub in MODULES else _resolve(path))
    return found


def imports(name: str) -> List[Import]:
    """Every import in module ``name``, at module level and inside functions alike."""
    tree = _tree(name)
    where = _path(name).relative_to(ROOT)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found: List[Import] = []

    def add(node, targets, is_internal):
        inside = _in_function(node, parents)
        if is_internal:  # importing fastw2v.a.b runs fastw2v/a/__init__.py first
            targets = [p for t in targets for p in _parents(t)]
        found.extend(Import(node.lineno, t, inside, is_internal) for t in dict.fromkeys(targets))

    def relative(level: int, module: str, line: int) -> List[str]:
        package = _package_of(name)
        if level - 1 > len(package):
            raise AssertionError(f"{where}:{line}: a relative import reaches above the package")
        base = package[:len(package) - (level - 1)]
        return base + (module.split(".") if module else [])

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "fastw2v":
                    add(node, [_resolve(parts[1:])], True)
                else:
                    add(node, [parts[0]], False)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level >= 1:
                add(node, _from_targets(relative(node.level, module, node.lineno), node.names), True)
            elif module == "fastw2v" or module.startswith("fastw2v."):
                add(node, _from_targets(module.split(".")[1:], node.names), True)
            elif module != "__future__":
                add(node, [module.split(".")[0]], False)
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called not in ("import_module", "__import__"):
                continue
            arg = node.args[0] if node.args else None
            if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                raise AssertionError(f"{where}:{node.lineno}: {called} of a computed name hides an import "
                                     "from this check; name the module in a string")
            text = arg.value
            if text == "fastw2v" or text.startswith("fastw2v."):
                add(node, [_resolve(text.split(".")[1:])], True)
            elif text.startswith("."):
                level = len(text) - len(text.lstrip("."))
                add(node, [_resolve(relative(level, text.lstrip("."), node.lineno))], True)
            else:
                add(node, [text.split(".")[0]], False)
    return found


def internal(name: str) -> List[Import]:
    return [i for i in imports(name) if i.internal]


def outside(name: str) -> List[Import]:
    return [i for i in imports(name) if not i.internal and i.target not in STDLIB]


def _where(name: str, imp: Import) -> str:
    return f"{_path(name).relative_to(ROOT)}:{imp.line} ({'in a function' if imp.in_function else 'module level'})"


def test_every_module_has_a_layer():
    assert set(LAYER) == set(MODULES), (f"no layer: {sorted(set(MODULES) - set(LAYER))}; "
                                        f"no such module: {sorted(set(LAYER) - set(MODULES))}")


@pytest.mark.parametrize("name", MODULES)
def test_no_import_points_up_a_layer(name):
    up = [f"{_where(name, i)} imports {i.target} ({LAYER_NAMES[LAYER[i.target]]})"
          for i in internal(name) if i.target in LAYER and LAYER[i.target] > LAYER[name]]
    assert not up, f"{name} ({LAYER_NAMES[LAYER[name]]}) imports a higher layer:\n" + "\n".join(up)


@pytest.mark.parametrize("name", MODULES)
def test_imports_name_real_modules(name):
    unknown = [f"{_where(name, i)}: {i.target}" for i in internal(name) if i.target not in MODULES + ["__init__"]]
    assert not unknown, unknown


def _cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """The strongly connected components of more than one module, and modules importing themselves."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    graph = {name: {i.target for i in internal(name)} for name in MODULES}
    cycles = _cycles(graph)
    detail = []
    for component in cycles:
        for name in component:
            detail += [f"{_where(name, i)}: {name} -> {i.target}" for i in internal(name) if i.target in component]
    assert not cycles, "import cycles " + str(cycles) + ":\n" + "\n".join(detail)


@pytest.mark.parametrize("name", MODULES)
def test_module_imports_only_what_its_layer_allows(name):
    layer = LAYER[name]
    found = outside(name)
    names = {i.target for i in found}
    allowed = THIRD_PARTY[layer]
    assert names <= allowed, f"{name} ({LAYER_NAMES[layer]}) imports {sorted(names - allowed)}"
    if layer == KERNELS:
        assert names <= {"numpy", "numba", "llvmlite"}, f"kernel {name} imports {sorted(names)}"
    if layer != KERAS:
        assert "keras" not in names, f"{name} imports keras"
    for backend, glue in BACKEND.items():
        if name not in glue:
            assert backend not in names, f"{name} imports {backend}"
    eager = [f"{_where(name, i)}: {i.target}" for i in found if i.target in OPTIONAL and not i.in_function]
    assert not eager, f"{name} imports an optional extra when it is imported: {eager}"


def test_importing_fastw2v_imports_no_keras_and_no_backend():
    """What ``import fastw2v`` runs: the package, then every module it imports at module level, and so on."""
    seen, todo = set(), ["__init__"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo += [i.target for i in internal(name) if not i.in_function]
    heavy = [f"{_where(name, i)}: {i.target}" for name in sorted(seen) for i in outside(name)
             if i.target in HEAVY and not i.in_function]
    assert not heavy, heavy
    eager = sorted(n for n in seen - {"__init__"} if LAYER[n] >= KERAS)
    assert not eager, eager


def _readme_layers() -> Dict[str, List[str]]:
    """``{module: [layer name, ...]}`` from the README's module table (each backticked module name in a row)."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Modules", 1)[1].split("\n## ", 1)[0]
    rows: Dict[str, List[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or cells[0] not in LAYER_NAMES.values():
            continue
        for token in re.findall(r"`([A-Za-z_][A-Za-z0-9_.]*)`", cells[1]):
            if token in MODULES:
                rows.setdefault(token, []).append(cells[0])
    return rows


def test_the_readme_module_map_agrees():
    readme = _readme_layers()
    listed = set(MODULES) - {"__init__"}
    assert set(readme) == listed, (f"the README's module map lacks {sorted(listed - set(readme))}, "
                                   f"names no such module {sorted(set(readme) - listed)}")
    wrong = {m: rows for m, rows in readme.items() if rows != [LAYER_NAMES[LAYER[m]]]}
    assert not wrong, f"the README puts these elsewhere (or in two rows): {wrong}"
