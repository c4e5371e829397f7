"""The import layering of src/resnets (docs/architecture.md), checked from the source.

Every module is parsed with ``ast`` (nothing is imported): its module-level and lazy
(function-level) imports, relative ones resolved, and every string constant that names one of
the package's modules (``importlib.import_module("resnets.x")``, ``"resnets.x.cli:main"`` in a
command table). Two rules hold over that graph:

* no import runs upward, from a unit to one of a higher layer, and the units of an
  independent layer (the tasks) do not import each other: what two share moves down;
* no cycle, between modules or between the units of the layer table.

Any cycle through an upward or sibling import is broken by fixing that import, so cycles are
sought among the remaining imports: each defect is reported once, where it must be fixed.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Bottom first. A unit (a package, or a top-level module) may import its own layer and those
# below it; "resnets" alone is the root package's __init__, the public API over everything.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("resnets.errors", "resnets.files", "resnets.limits", "resnets.readback",
              "resnets.weights", "resnets.machine")),
    ("models", ("resnets.models",)),
    ("data", ("resnets.data",)),
    ("engine", ("resnets.train", "resnets.export", "resnets.fastest")),
    ("tasks", ("resnets.bench", "resnets.continual", "resnets.detection",
               "resnets.experiments", "resnets.explain", "resnets.gan", "resnets.metric",
               "resnets.prune", "resnets.quantize", "resnets.robust", "resnets.segmentation",
               "resnets.selfsup", "resnets.speech", "resnets.sr", "resnets.text",
               "resnets.transfer", "resnets.translate")),
    ("cli", ("resnets.cli", "resnets.applications", "resnets")),
]
INDEPENDENT = {"tasks"}  # layers whose units never import one another

# Violations of the real tree still to fix; each names what removes it (the single engine,
# issue #16). The test asserts that the checker finds exactly these: a new one fails, and a
# fixed one must be deleted here (and from docs/architecture.md).
KNOWN_VIOLATIONS: set[str] = set()


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the module imported (the longest prefix that is a module of the tree)
    where: str  # path:line, for the messages


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Every module of ``package`` under ``root``: dotted name -> file (``__init__``
    stands for its package)."""
    modules = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _known_prefix(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is a module of the tree (None if outside it)."""
    parts = name.split(".")
    while parts and ".".join(parts) not in modules:
        parts.pop()
    return ".".join(parts) or None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    """Every import of the tree that ``module`` makes, wherever in the file it stands."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    module_string = re.compile(rf"{re.escape(module.split('.')[0])}(\.\w+)+(:\w+)?")
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:  # `from pkg import submodule` imports the submodule
                name = f"{base}.{alias.name}"
                found.append((name if name in modules else base, node.lineno))
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and module_string.fullmatch(node.value)
              and node.value.partition(":")[0] in modules):
            found.append((node.value.partition(":")[0], node.lineno))
    result = []
    for name, line in found:
        target = _known_prefix(name, modules)
        if target is not None and target != module:
            result.append(Import(module, target, f"{path}:{line}"))
    return result


def unit_of(module: str, layers: list[tuple[str, tuple[str, ...]]]) -> tuple[str, int]:
    """(unit, layer index) of ``module``: the longest unit that is it or contains it."""
    best = None
    for index, (_, units) in enumerate(layers):
        for unit in units:
            # The root package is a unit of its own __init__ only, not of everything below.
            inside = module == unit or (module.startswith(unit + ".") and "." in unit)
            if inside and (best is None or len(unit) > len(best[0])):
                best = (unit, index)
    if best is None:
        raise AssertionError(f"module {module} is in no layer; add it (or its package) to "
                             "LAYERS in tests/test_layering.py and docs/architecture.md")
    return best


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def find_violations(root: Path, package: str, layers=LAYERS,
                    independent=INDEPENDENT) -> dict[str, str]:
    """Every cycle and every upward or sibling import: description -> where it stands."""
    modules = module_names(root, package)
    edges = [imp for module, path in modules.items() for imp in imports_of(module, path,
                                                                           modules)]
    found: dict[str, str] = {}
    module_graph: dict[str, set[str]] = {}
    unit_graph: dict[str, set[str]] = {}
    for imp in edges:
        (src_unit, src_layer), (dst_unit, dst_layer) = (unit_of(imp.source, layers),
                                                        unit_of(imp.target, layers))
        if src_unit != dst_unit and dst_layer > src_layer:
            found.setdefault(f"upward: {imp.source} -> {imp.target}", imp.where)
        elif (src_unit != dst_unit and dst_layer == src_layer
              and layers[src_layer][0] in independent):
            found.setdefault(f"sibling: {imp.source} -> {imp.target}", imp.where)
        else:  # cycles are sought among the imports that the layers allow
            module_graph.setdefault(imp.source, set()).add(imp.target)
            if src_unit != dst_unit:
                unit_graph.setdefault(src_unit, set()).add(dst_unit)
    for kind, graph in (("cycle", module_graph), ("unit cycle", unit_graph)):
        for members in _cycles(graph):
            found[f"{kind}: {' <-> '.join(members)}"] = ", ".join(members)
    for module in modules:  # a module in no layer fails even when it imports nothing
        unit_of(module, layers)
    return found


def test_the_tree_has_exactly_the_known_violations():
    found = find_violations(SRC, "resnets")
    new = {key: where for key, where in found.items() if key not in KNOWN_VIOLATIONS}
    fixed = sorted(KNOWN_VIOLATIONS - found.keys())
    assert not new, f"imports against docs/architecture.md's layers: {new}"
    assert not fixed, f"fixed, delete them from KNOWN_VIOLATIONS: {fixed}"


def test_models_import_nothing_above_them():
    found = find_violations(SRC, "resnets")
    assert not [key for key in found if re.search(r"(: |<-> )resnets\.models\b", key)]


# A small package with the same shape of layer table, for the deliberately bad examples.
TOY_LAYERS = [("base", ("toy.errors",)), ("low", ("toy.low", "toy.shared")),
              ("tasks", ("toy.alpha", "toy.beta")), ("cli", ("toy.cli", "toy"))]
TOY = {
    "toy/__init__.py": "from .low import core\n",
    "toy/errors.py": "class ToyError(Exception):\n    pass\n",
    "toy/low/__init__.py": "",
    "toy/low/core.py": "from ..errors import ToyError\nfrom . import helper\n",
    "toy/low/helper.py": "import toy.errors\n",
    "toy/alpha/__init__.py": "",
    "toy/alpha/run.py": "from ..low.core import ToyError\n",
    "toy/beta/__init__.py": "",
    "toy/beta/run.py": "from toy.low import helper\n",
    "toy/shared/__init__.py": "",
    "toy/shared/a.py": "",
    "toy/shared/b.py": "",
    "toy/cli.py": "COMMANDS = {'a': 'toy.alpha.run:main', 'b': 'toy.beta.run:main'}\n",
}


def write_toy(root: Path, changes: dict[str, str]) -> Path:
    for name, text in {**TOY, **changes}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_a_clean_package_has_no_violations(tmp_path):
    assert find_violations(write_toy(tmp_path, {}), "toy", TOY_LAYERS, {"tasks"}) == {}


@pytest.mark.parametrize("changes, expected", [
    ({"toy/low/helper.py": "from . import core\n"}, "cycle: toy.low.core <-> toy.low.helper"),
    ({"toy/low/helper.py": "from ..alpha import run\n"},
     "upward: toy.low.helper -> toy.alpha.run"),
    ({"toy/low/helper.py": "def later():\n    import toy.cli\n"},
     "upward: toy.low.helper -> toy.cli"),
    ({"toy/low/helper.py": "import importlib\n\ndef later():\n"
                           "    return importlib.import_module('toy.beta.run')\n"},
     "upward: toy.low.helper -> toy.beta.run"),
    ({"toy/low/helper.py": "TABLE = {'x': 'toy.alpha.run:build'}\n"},
     "upward: toy.low.helper -> toy.alpha.run"),
    ({"toy/beta/run.py": "def later():\n    from ..alpha.run import ToyError\n"},
     "sibling: toy.beta.run -> toy.alpha.run"),
    ({"toy/low/helper.py": "from toy.shared import a\n",
      "toy/shared/b.py": "def later():\n    from ..low import core\n"},
     "unit cycle: toy.low <-> toy.shared"),
], ids=["cycle", "upward", "lazy-upward", "import-module-string", "command-table-string",
        "task-imports-sibling", "package-cycle"])
def test_each_bad_example_is_reported(tmp_path, changes, expected):
    found = find_violations(write_toy(tmp_path, changes), "toy", TOY_LAYERS, {"tasks"})
    assert expected in found


def test_a_module_in_no_layer_is_refused(tmp_path):
    root = write_toy(tmp_path, {"toy/gamma.py": ""})
    with pytest.raises(AssertionError, match="toy.gamma is in no layer"):
        find_violations(root, "toy", TOY_LAYERS, {"tasks"})


def test_a_string_that_is_no_module_is_no_import(tmp_path):
    root = write_toy(tmp_path, {"toy/low/helper.py": "HINT = 'toy.load_weights'\n"
                                                      "DOC = 'see toy.alpha.run for more'\n"})
    assert find_violations(root, "toy", TOY_LAYERS, {"tasks"}) == {}
