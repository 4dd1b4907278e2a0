"""`mmtard cache-teacher`: a thin wrapper over :func:`mmtard.apis.cache_teacher.cache_teacher`."""
from __future__ import annotations

from typing import Optional, Tuple

import click

from .common import cfg_options_option, console, friendly_errors, load_plugins_reporting_failures


@click.command('cache-teacher')
@click.argument('config', type=click.Path(dir_okay=False))
@click.option('--work-dir', type=click.Path(file_okay=False), default=None,
              help='The run that will read the cache (default: the config\'s, work_dirs/<config name>).')
@click.option('--batch-size', type=int, default=64, show_default=True, help='Images per teacher forward.')
@click.option('--device', default=None, help='torch device (default: cuda if available, else cpu).')
@cfg_options_option
@friendly_errors
def cache_teacher_command(config: str, work_dir: Optional[str], batch_size: int, device: Optional[str],
                          cfg_options: Tuple[str, ...]) -> None:
    """Compute CONFIG's clean-teacher outputs for every training image (every fixed view) before training."""
    from rich.progress import Progress

    from ..apis.cache_teacher import cache_teacher
    from ..config import parse_cfg_options

    load_plugins_reporting_failures()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task('teacher outputs', total=None)
        written = cache_teacher(config, work_dir=work_dir, cfg_options=parse_cfg_options(cfg_options),
                                batch_size=batch_size, device=device,
                                progress=lambda done: progress.advance(task, done))
    for name, path in written.items():
        console.print(f'[green]cached[/] teacher {name!r}: {path}', highlight=False, soft_wrap=True)
    console.print('`mmtard train` with this config and work dir loads it.', highlight=False)
