"""No module of mmtard imports one that imports it back, at module or function level, and no
sub-package (mmtard.apis, mmtard.apps, ...) imports one that imports it back, and the core never imports
the applications."""
import ast
from pathlib import Path
from typing import Dict, List, Set

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / 'mmtard'


def module_names(root: Path) -> Dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file under the package folder ``root``."""
    names = {}
    for path in root.rglob('*.py'):
        parts = list(path.relative_to(root.parent).with_suffix('').parts)
        names['.'.join(parts[:-1] if parts[-1] == '__init__' else parts)] = path
    return names


def imported_modules(module: str, path: Path, known: Set[str]) -> Set[str]:
    """The package's modules that ``module`` imports anywhere in its body (functions included)."""
    package = module if path.name == '__init__.py' else module.rpartition('.')[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                anchor = package.split('.')[:len(package.split('.')) - node.level + 1]
                base = '.'.join(anchor + ([base] if base else []))
            targets = [base] + [f'{base}.{alias.name}' for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `from .x import name`: name is not a module
                target = target.rpartition('.')[0]
            # a package importing its own children (or a child its package) is how packages work
            if target and target != module and not target.startswith(module + '.') \
                    and not module.startswith(target + '.'):
                found.add(target)
    return found


def cycles(edges: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in edges.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def import_graph(root: Path) -> Dict[str, Set[str]]:
    modules = module_names(root)
    return {name: imported_modules(name, path, set(modules)) for name, path in modules.items()}


def part_graph(edges: Dict[str, Set[str]]) -> Dict[str, Set[str]]:
    """The same imports between the package's first-level parts (``mmtard.apis``, ``mmtard.apps``)."""
    part = lambda name: '.'.join(name.split('.')[:2])  # noqa: E731
    parts: Dict[str, Set[str]] = {}
    for source, targets in edges.items():
        parts.setdefault(part(source), set()).update(part(t) for t in targets if part(t) != part(source))
    return parts


def test_no_module_imports_one_that_imports_it_back():
    assert cycles(import_graph(PACKAGE)) == []


def test_no_part_of_the_package_imports_one_that_imports_it_back():
    assert cycles(part_graph(import_graph(PACKAGE))) == []


def test_the_core_never_imports_the_applications():
    """Demo and study stand on the public API; only the command line (their front end) reaches them."""
    parts = part_graph(import_graph(PACKAGE))
    importers = sorted(part for part, targets in parts.items() if 'mmtard.apps' in targets)
    assert importers == ['mmtard.cli']


@pytest.fixture
def toy_package(tmp_path):
    root = tmp_path / 'toy'
    (root / 'sub').mkdir(parents=True)
    (root / '__init__.py').write_text('from .a import A\n')
    (root / 'a.py').write_text('A = 1\n\ndef late():\n    from .sub.b import B  # function level\n    return B\n')
    (root / 'sub' / '__init__.py').write_text('')
    (root / 'sub' / 'b.py').write_text('from ..a import A as B\nimport toy.c\n')
    (root / 'c.py').write_text('import os\n')
    return root


def test_the_walker_sees_function_level_and_relative_imports(toy_package):
    edges = import_graph(toy_package)
    assert edges['toy.a'] == {'toy.sub.b'} and edges['toy.sub.b'] == {'toy.a', 'toy.c'}
    assert edges['toy'] == set() and edges['toy.c'] == set()  # own children and outside modules
    assert cycles(edges) == [['toy.a', 'toy.sub.b']]
    assert cycles(part_graph(edges)) == [['toy.a', 'toy.sub']]
