"""Make real entry-point metadata (a ``*.dist-info`` folder) for fake plugin distributions."""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Dict, List


def make_distribution(root: Path, name: str, entry_points: Dict[str, str], modules: Dict[str, str]) -> Path:
    """Write modules and a dist-info with ``mmtard.plugins`` entry points under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for module, source in modules.items():
        (root / f'{module}.py').write_text(textwrap.dedent(source))
    dist_info = root / f"{name.replace('-', '_')}-1.0.dist-info"
    dist_info.mkdir(exist_ok=True)
    (dist_info / 'METADATA').write_text(f'Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n')
    lines = '\n'.join(f'{k} = {v}' for k, v in entry_points.items())
    (dist_info / 'entry_points.txt').write_text(f'[mmtard.plugins]\n{lines}\n')
    return root


def discover_only_under(roots: List[Path], monkeypatch) -> None:
    """Make mmtard's plugin discovery see the distributions under ``roots`` only, never those
    installed in the environment (tests must not depend on what else is installed)."""
    from importlib import metadata

    from mmtard import plugins

    def entry_points(group: str) -> List[metadata.EntryPoint]:
        dists = metadata.distributions(path=[str(root) for root in roots]) if roots else []
        return [ep for dist in dists for ep in dist.entry_points if ep.group == group]

    monkeypatch.setattr(plugins, 'metadata', SimpleNamespace(entry_points=entry_points, EntryPoint=metadata.EntryPoint))
    monkeypatch.setattr(sys.modules[__name__], '_discoverable', list(roots))


_discoverable: List[Path] = []


def activate(root: Path, monkeypatch) -> None:
    """Put ``root`` on sys.path, make its plugins discoverable and make mmtard forget what it loaded,
    so plugins load afresh."""
    from mmtard import plugins

    monkeypatch.syspath_prepend(str(root))
    discover_only_under([*_discoverable, root], monkeypatch)
    monkeypatch.delenv(plugins.DISABLE_ENV, raising=False)
    plugins.forget_loaded_plugins()
    monkeypatch.delitem(sys.modules, 'mmtard_example_weighting', raising=False)  # put back after the test
