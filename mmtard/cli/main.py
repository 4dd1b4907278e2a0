"""The `mmtard` command: a click group whose commands are thin wrappers over mmtard.apis."""
from __future__ import annotations

import functools
import json
import warnings
from typing import Any, Callable, Optional, Tuple

import click
from rich.console import Console
from rich.table import Table

from .. import __version__
from ..config import parse_cfg_options
from ..errors import MMTardError

console = Console()
err_console = Console(stderr=True)


def friendly_errors(func: Callable) -> Callable:
    """Print mmtard's one-paragraph errors without a traceback and exit with status 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except MMTardError as err:
            err_console.print(f'[bold red]error:[/] {err}', highlight=False, soft_wrap=True)
            raise SystemExit(2) from None

    return wrapper


def load_plugins_reporting_failures() -> None:
    """Load plugins once; a broken plugin is a warning line, never a failed unrelated command."""
    from ..plugins import ensure_plugins_loaded

    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        failures = ensure_plugins_loaded()
    for failure in failures:
        err_console.print(f'[yellow]warning:[/] plugin {failure.entry_point!r} of distribution '
                          f'{failure.distribution!r} failed to load ({failure.cause}); its components are '
                          f'unavailable.', highlight=False, soft_wrap=True)


cfg_options_option = click.option(
    '--cfg-options', '-o', 'cfg_options', multiple=True, metavar='KEY=VALUE',
    help='Override a config value, e.g. -o optim_wrapper.optimizer.lr=1e-4 (repeatable).')


@click.group(context_settings={'help_option_names': ['-h', '--help']})
@click.version_option(__version__, prog_name='mmtard')
def cli() -> None:
    """mmtard: multi-teacher adversarial robust distillation for CLIP-style models."""


@cli.command()
@click.argument('config', type=click.Path(dir_okay=False))
@click.option('--work-dir', type=click.Path(file_okay=False), help='Where logs and checkpoints go '
              '(default: work_dirs/<config name>).')
@click.option('--resume', is_flag=False, flag_value='auto', default=None, metavar='[CKPT]',
              help='Resume from CKPT, or with no value from the work dir\'s latest checkpoint.')
@click.option('--overwrite', is_flag=True, help='Allow replacing checkpoints of an earlier run in the work dir.')
@click.option('--launcher', type=click.Choice(['none', 'pytorch', 'slurm']), default='none',
              help='Distributed launcher: pytorch under torchrun, slurm under srun.')
@cfg_options_option
@friendly_errors
def train(config: str, work_dir: Optional[str], resume: Optional[str], overwrite: bool, launcher: str,
          cfg_options: Tuple[str, ...]) -> None:
    """Train the model a CONFIG describes (distiller, teacher recipe or baseline)."""
    from ..apis.train import train as train_api

    load_plugins_reporting_failures()
    runner = train_api(config, work_dir=work_dir, resume=resume, cfg_options=parse_cfg_options(cfg_options),
                       launcher=launcher, overwrite=overwrite)
    from mmengine.dist import get_rank

    if get_rank() == 0:
        console.print(f'[green]done[/]: checkpoints and logs in {runner.work_dir}')


@cli.command('list')
@click.argument('registry', required=False)
@click.option('--format', 'fmt', type=click.Choice(['table', 'json']), default='table')
@friendly_errors
def list_(registry: Optional[str], fmt: str) -> None:
    """List registered components (of one REGISTRY, e.g. teachers, attacks, weightings)."""
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
    from ..config import resolve_config

    cfg = resolve_config(config_path, parse_cfg_options(cfg_options))
    click.echo(cfg.pretty_text)




from .eval import eval_command  # noqa: E402  (eval.py imports this module's shared options)

cli.add_command(eval_command)

from .demo import demo_command  # noqa: E402

cli.add_command(demo_command)
