"""The smoke-size demo, run once for the demo's and the study's tests (the study reuses its chain)."""
import subprocess
import sys

import pytest


@pytest.fixture(scope='session')
def smoke_demo(tmp_path_factory, installed_mmtard):
    """The smoke demo, run by a non-editable install of mmtard (its stage configs are package data),
    from a folder that holds no repository."""
    work = tmp_path_factory.mktemp('demo')
    result = subprocess.run([sys.executable, '-m', 'mmtard', 'demo', '--work-dir', str(work), '--size', 'smoke'],
                            cwd=work, env=installed_mmtard.env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    (work / 'demo-output.txt').write_text(result.stdout + result.stderr)  # what a newcomer reads
    return work
