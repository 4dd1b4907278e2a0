"""`mmtard config show`: a config as mmtard resolves it."""
from __future__ import annotations

from typing import Tuple

import click

from .common import cfg_options_option, friendly_errors


@click.group('config')
def config_group() -> None:
    """Inspect configs."""


@config_group.command('show')
@click.argument('config_path', metavar='CONFIG', type=click.Path(dir_okay=False))
@cfg_options_option
@friendly_errors
def config_show(config_path: str, cfg_options: Tuple[str, ...]) -> None:
    """Print the fully resolved CONFIG (with _base_ files merged and overrides applied)."""
    from ..config import parse_cfg_options, resolve_config

    cfg = resolve_config(config_path, parse_cfg_options(cfg_options))
    click.echo(cfg.pretty_text)
