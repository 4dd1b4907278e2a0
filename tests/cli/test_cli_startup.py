"""`mmtard --help` and `mmtard COMMAND --help` answer without importing torch, open_clip or mmengine."""
import subprocess
import sys

import pytest

HEAVY = ('torch', 'open_clip', 'mmengine', 'timm')
PROBE = '''
import sys
from click.testing import CliRunner
from mmtard.cli.main import cli
result = CliRunner().invoke(cli, {args!r})
assert result.exit_code == 0, result.output
print(','.join(sorted(name for name in {heavy!r} if name in sys.modules)))
'''


@pytest.mark.parametrize('args', [['--help'], ['train', '--help'], ['eval', '--help'], ['list', '--help'],
                                  ['config', 'show', '--help'], ['demo', '--help'], ['export', '--help'],
                                  ['plot', '--help']])
def test_help_imports_no_heavy_library(args):
    out = subprocess.run([sys.executable, '-c', PROBE.format(args=args, heavy=HEAVY)], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == '', f'`mmtard {" ".join(args)}` imported {out}'

