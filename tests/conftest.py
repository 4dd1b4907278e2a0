"""Test-wide settings: no network, deterministic CPU threads, plugin state isolated per test."""
from __future__ import annotations

import os

os.environ.setdefault('HF_HUB_OFFLINE', '1')  # never let a test reach a model hub
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')

import pytest  # noqa: E402
import torch  # noqa: E402

#: The tiny trained model and benchmark configs, for every test folder.
pytest_plugins = ['eval_fixtures']

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture
def isolated_registries(monkeypatch):
    """Undo every registration a test makes (plugins register into process-wide registries), and
    start it from the built-ins alone: plugins installed in the environment are invisible (their
    components removed, their entry points not discovered), so a test sees only the plugins it
    makes (``plugin_helpers.activate``)."""
    from mmtard import plugins
    from mmtard.registry import PUBLIC_REGISTRIES

    from plugin_helpers import discover_only_under

    discover_only_under([], monkeypatch)
    plugins.forget_loaded_plugins()
    plugins.ensure_plugins_loaded()  # the built-ins
    saved = {name: dict(reg.module_dict) for name, reg in PUBLIC_REGISTRIES.items()}
    saved_owners = dict(plugins._owners)
    for reg in PUBLIC_REGISTRIES.values():  # what installed plugins registered earlier in the session
        for name in [n for n in reg.module_dict if reg.owner(n) != plugins.BUILTIN_OWNER]:
            del reg.module_dict[name]
    yield
    for name, reg in PUBLIC_REGISTRIES.items():  # module_dict is the live mapping (tests/engine/test_mmengine_contract.py)
        reg.module_dict.clear()
        reg.module_dict.update(saved[name])
    plugins._owners.clear()
    plugins._owners.update(saved_owners)
    plugins.forget_loaded_plugins()


@pytest.fixture(scope='session')
def installed_mmtard(tmp_path_factory):
    """mmtard installed from the repository as pip installs it (non-editable, only what the package
    ships), into a folder of its own: ``env`` runs ``python -m mmtard`` on that copy (its dependencies
    are this environment's). Offline and once per session."""
    import subprocess
    import sys
    from pathlib import Path
    from types import SimpleNamespace

    repo, site = Path(__file__).resolve().parents[1], tmp_path_factory.mktemp('site')
    subprocess.run([sys.executable, '-m', 'pip', 'install', '--quiet', '--no-deps', '--no-build-isolation',
                    '--target', str(site), str(repo)], check=True)
    env = {**os.environ, 'PYTHONPATH': str(site)}
    where = subprocess.run([sys.executable, '-c', 'import mmtard; print(mmtard.__file__)'], cwd=site.parent, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(site), f'the installed copy must run, not the repository ({where})'
    return SimpleNamespace(site=site, env=env)
