"""The smoke-size demo, run once for the demo's and the study's tests (the study reuses its chain)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='session')
def smoke_demo(tmp_path_factory):
    """The smoke demo, run by a non-editable install of mmtard (its stage configs are package data),
    from a folder that holds no repository."""
    work, site = tmp_path_factory.mktemp('demo'), tmp_path_factory.mktemp('site')
    subprocess.run([sys.executable, '-m', 'pip', 'install', '--quiet', '--no-deps', '--no-build-isolation',
                    '--target', str(site), str(REPO)], check=True)
    env = {**os.environ, 'PYTHONPATH': str(site)}
    where = subprocess.run([sys.executable, '-c', 'import mmtard.apps.chain as c; print(c.CONFIG_DIR)'], cwd=work,
                           env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(site), f'the installed copy must run, not the repository ({where})'
    result = subprocess.run([sys.executable, '-m', 'mmtard', 'demo', '--work-dir', str(work), '--size', 'smoke'],
                            cwd=work, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return work
