"""The `mmtard` command: a click group whose commands are thin wrappers over mmtard.apis.

Commands import torch, open_clip and mmengine inside their bodies, so that `mmtard --help` and
`mmtard COMMAND --help` answer at once.
"""
from __future__ import annotations

import click

from .. import __version__
from .cache_teacher import cache_teacher_command
from .config import config_group
from .demo import demo_command
from .eval import eval_command
from .export import export_command
from .list import list_command
from .plot import plot_command
from .results import results_group
from .study import study_command
from .train import train_command


@click.group(context_settings={'help_option_names': ['-h', '--help']})
@click.version_option(__version__, prog_name='mmtard')
def cli() -> None:
    """mmtard: multi-teacher adversarial robust distillation for CLIP-style models."""


cli.add_command(train_command)
cli.add_command(eval_command)
cli.add_command(demo_command)
cli.add_command(plot_command)
cli.add_command(study_command)
cli.add_command(export_command)
cli.add_command(cache_teacher_command)
cli.add_command(results_group)
cli.add_command(list_command)
cli.add_command(config_group)
