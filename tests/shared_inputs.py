"""Inputs several test folders share: the tiny training config with a 4-iteration schedule, a finished
tiny run, checkpoints read back, and the code examples of docs/interfaces.md."""
import re
from pathlib import Path
from typing import Sequence

import torch
from click.testing import CliRunner

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / 'configs' / 'mmtard' / 'mmtard_tiny-vit_tiny-clean-robust_pgd3-eps4_100it_shapes.py'
#: `-o` options that make TINY a 4-iteration run that validates and checkpoints.
FAST = ['-o', 'train_cfg.max_iters=4', '-o', 'train_cfg.val_interval=4', '-o', 'default_hooks.checkpoint.interval=2',
        '-o', 'train_dataloader.batch_size=8', '-o', 'train_dataloader.dataset.num_samples=64',
        '-o', 'val_dataloader.dataset.num_samples=16', '-o', 'model.attack.steps=1', '-o', 'model.val_attack.steps=1']


def train_tiny(work: Path, options: Sequence[str]) -> Path:
    """``mmtard train`` of TINY into ``work`` with ``options`` (``-o`` pairs); it must finish."""
    from mmtard.cli.main import cli

    result = CliRunner().invoke(cli, ['train', str(TINY), '--work-dir', str(work), *options], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return work


def load_checkpoint(path: Path) -> dict:
    """A checkpoint mmtard wrote, read back whole (its own classes allowed)."""
    from mmtard.checkpoint import trusted_checkpoint_globals

    with trusted_checkpoint_globals():
        return torch.load(path, map_location='cpu')


INTERFACES_DOC = REPO / 'docs' / 'interfaces.md'


def interface_examples():
    """name of the class each example of docs/interfaces.md registers -> the example's code."""
    text = INTERFACES_DOC.read_text().split('\n# Adding a component\n', 1)[1]
    blocks = re.findall(r'```python\n(.*?)```', text, flags=re.S)
    return {re.search(r'^class (\w+)', block, flags=re.M).group(1): block for block in blocks}


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for a torchrun rendezvous)."""
    import socket

    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def two_nodes(*command: str, timeout: int = 600) -> None:
    """``command`` (a script, or ``-m module ...``) on two torchrun nodes of one process each, with a
    static rendezvous on 127.0.0.1, started together as two machines would start them; both must succeed."""
    import os
    import subprocess
    import sys

    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': str(REPO / 'tests') + os.pathsep + str(REPO)}
    port = free_port()
    launches = [subprocess.Popen([sys.executable, '-m', 'torch.distributed.run', '--nnodes=2', f'--node_rank={rank}',
                                  '--nproc_per_node=1', '--master_addr=127.0.0.1', f'--master_port={port}', *command],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
                for rank in (0, 1)]
    outputs = [launch.communicate(timeout=timeout)[0] for launch in launches]
    for launch, output in zip(launches, outputs):
        assert launch.returncode == 0, output[-4000:]
