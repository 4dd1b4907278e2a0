"""The `mmtard` command: a click group whose commands are thin wrappers over mmtard.apis.

Commands import torch, open_clip and mmengine inside their bodies, so that `mmtard --help` and
`mmtard COMMAND --help` answer at once.
"""
from __future__ import annotations

import json
from typing import Optional, Tuple

import click

from .. import __version__
from .cache_teacher import cache_teacher_command
from .common import cfg_options_option, console, friendly_errors, load_plugins_reporting_failures
from .demo import demo_command
from .eval import eval_command
from .plot import plot_command
from .results import results_group
from .export import export_command
from .study import study_command


@click.group(context_settings={'help_option_names': ['-h', '--help']})
@click.version_option(__version__, prog_name='mmtard')
def cli() -> None:
    """mmtard: multi-teacher adversarial robust distillation for CLIP-style models."""


@cli.command()
@click.argument('config', type=click.Path(dir_okay=False), required=False, metavar='CONFIG')  # see --resume below
@click.option('--work-dir', type=click.Path(file_okay=False), help='Where logs and checkpoints go '
              '(default: work_dirs/<config name>).')
@click.option('--resume', is_flag=False, flag_value='auto', default=None, metavar='[CKPT]',
              help='Resume from CKPT, or with no value from the work dir\'s latest checkpoint.')
@click.option('--overwrite', is_flag=True, help='Allow replacing checkpoints of an earlier run in the work dir.')
@click.option('--launcher', type=click.Choice(['none', 'pytorch', 'slurm']), default='none',
              help='Distributed launcher: pytorch under torchrun, slurm under srun.')
@click.option('--amp', is_flag=True, help='bfloat16 mixed precision (sets optim_wrapper.type=BF16AmpOptimWrapper); '
              'logits, KL terms and the attack stay fp32.')
@click.option('--verbose', '-v', is_flag=True, help="Also print mmengine's environment, config and set-up log "
              '(always in the work dir\'s log file).')
@click.option('--log-backend', 'log_backends', multiple=True, type=click.Choice(['tensorboard', 'wandb']),
              help='Also log to TensorBoard or Weights & Biases (needs that package; repeatable).')
@click.option('--lr-from-config', is_flag=True, help="With --resume: the config's learning rate (and -o's) "
              "replaces the one the checkpoint saved, the schedule scaled to it.")
@cfg_options_option
@friendly_errors
def train(config: Optional[str], work_dir: Optional[str], resume: Optional[str], overwrite: bool, launcher: str,
          amp: bool, verbose: bool, log_backends: Tuple[str, ...], lr_from_config: bool,
          cfg_options: Tuple[str, ...]) -> None:
    """Train the model a CONFIG describes (distiller, teacher recipe or baseline)."""
    from ..apis.train import train as train_api
    from ..config import parse_cfg_options

    if config is None:
        if resume is None or not resume.endswith('.py'):
            raise click.UsageError("Missing argument 'CONFIG'.")
        config, resume = resume, 'auto'  # `--resume CONFIG`: the option took the config as its value
    load_plugins_reporting_failures()
    options = parse_cfg_options(cfg_options)
    if amp:
        from ..engine.amp import AMP_OPTIM_WRAPPER

        options['optim_wrapper.type'] = AMP_OPTIM_WRAPPER
    runner = train_api(config, work_dir=work_dir, resume=resume, cfg_options=options,
                       launcher=launcher, overwrite=overwrite, verbose=verbose, log_backends=log_backends,
                       lr_from_config=lr_from_config)
    from mmengine.dist import get_rank

    if get_rank() == 0:
        console.print(f'[green]done[/]: checkpoints and logs in {runner.work_dir}')


@cli.command('list')
@click.argument('registry', required=False)
@click.option('--format', 'fmt', type=click.Choice(['table', 'json']), default='table')
@friendly_errors
def list_(registry: Optional[str], fmt: str) -> None:
    """List registered components (of one REGISTRY, e.g. teachers, attacks, weightings)."""
    from rich.table import Table

    from ..listing import list_components

    load_plugins_reporting_failures()
    rows = list_components(registry)
    if fmt == 'json':
        click.echo(json.dumps([row.as_dict() for row in rows], indent=2))
        return
    table = Table(title='mmtard components')
    for column in ('registry', 'name', 'distribution'):
        table.add_column(column, no_wrap=True)
    table.add_column('description')
    for row in rows:
        table.add_row(row.registry, row.name, row.distribution, row.description)
    console.print(table)


@cli.group()
def config() -> None:
    """Inspect configs."""


@config.command('show')
@click.argument('config_path', metavar='CONFIG', type=click.Path(dir_okay=False))
@cfg_options_option
@friendly_errors
def config_show(config_path: str, cfg_options: Tuple[str, ...]) -> None:
    """Print the fully resolved CONFIG (with _base_ files merged and overrides applied)."""
    from ..config import parse_cfg_options, resolve_config

    cfg = resolve_config(config_path, parse_cfg_options(cfg_options))
    click.echo(cfg.pretty_text)


cli.add_command(eval_command)
cli.add_command(demo_command)
cli.add_command(plot_command)
cli.add_command(study_command)
cli.add_command(export_command)
cli.add_command(cache_teacher_command)
cli.add_command(results_group)
