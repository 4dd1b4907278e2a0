"""The Python API returns data and reports progress through plain objects; only the command line (and the
applications) draw with rich or parse with click.

Checked on the source (module and function level imports, followed through mmtard's own modules), not by
importing: mmengine itself imports rich, so ``sys.modules`` after an import would say nothing about mmtard.
"""
import ast
from pathlib import Path
from typing import Dict, Set

from test_import_cycles import PACKAGE, import_graph

PRESENTATION = {'rich', 'click'}
#: The training progress bar is an mmengine hook the Runner calls (chosen by the config's custom_hooks);
#: it imports rich only when it draws in a terminal.
TRAINING_BAR_HOOK = 'mmtard.engine.hooks'


def third_party_imports(path: Path) -> Set[str]:
    """Top-level names of the absolute imports anywhere in the file."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split('.')[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split('.')[0])
    return names


def reachable_from(start: Set[str], edges: Dict[str, Set[str]]) -> Set[str]:
    seen: Set[str] = set()
    todo = list(start)
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(edges.get(module, ()))
    return seen


def module_file(module: str) -> Path:
    path = PACKAGE.parent.joinpath(*module.split('.'))
    return path / '__init__.py' if path.is_dir() else path.with_suffix('.py')


def test_no_apis_module_imports_rich_or_click():
    apis = sorted(PACKAGE.joinpath('apis').glob('*.py'))
    assert {'train.py', 'evaluate.py', 'export.py'} <= {path.name for path in apis}, 'the check must see the API'
    assert {path.name: third_party_imports(path) & PRESENTATION for path in apis} == {path.name: set() for path in apis}


def test_nothing_the_apis_import_renders_except_the_training_bar_hook():
    edges = import_graph(PACKAGE)
    apis = {module for module in edges if module.startswith('mmtard.apis')}
    rendering = {module for module in reachable_from(apis, edges)
                 if third_party_imports(module_file(module)) & PRESENTATION}
    assert rendering == {TRAINING_BAR_HOOK}


def test_the_check_sees_function_level_imports(tmp_path):
    module = tmp_path / 'module.py'
    module.write_text('import os\n\ndef show():\n    from rich.table import Table\n    import click.testing\n')
    assert third_party_imports(module) == {'os', 'rich', 'click'}
