"""Make real entry-point metadata (a ``*.dist-info`` folder) for fake plugin distributions."""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Dict


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


def activate(root: Path, monkeypatch) -> None:
    """Put ``root`` on sys.path and make mmtard forget what it loaded, so plugins load afresh."""
    from mmtard import plugins

    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delenv(plugins.DISABLE_ENV, raising=False)
    plugins.forget_loaded_plugins()
    sys.modules.pop('mmtard_example_weighting', None)
