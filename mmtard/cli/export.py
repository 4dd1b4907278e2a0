"""`mmtard export`: a thin wrapper over :func:`mmtard.apis.export.export`."""
from __future__ import annotations

from typing import Optional

import click

from .common import console, friendly_errors, load_plugins_reporting_failures


@click.command('export')
@click.argument('checkpoint', type=click.Path(dir_okay=False))
@click.option('--format', 'fmt', required=True, metavar='FORMAT',
              help='A registered export format (`mmtard list exporters`): the built-ins write an open_clip '
                   'student as a full CLIP state dict (open_clip), its image tower (vision) or an open_clip hub '
                   'folder with a model card (hf-hub), and a timm student\'s trunk (timm); a plugin adds its own.')
@click.option('--out', type=click.Path(), default=None,
              help='Where to write (.pt or .safetensors; a folder for hf-hub). Default: next to CHECKPOINT, '
                   'named <checkpoint>-<format>. Never overwritten.')
@friendly_errors
def export_command(checkpoint: str, fmt: str, out: Optional[str]) -> None:
    """Export the student of a training CHECKPOINT in a format that loads without mmtard (open_clip, timm, ...)."""
    from ..apis.export import export

    load_plugins_reporting_failures()
    result = export(checkpoint, fmt, out)
    console.print(f'[green]exported[/] {result.format}: {result.path}', highlight=False, soft_wrap=True)
    console.print(f'load it with: {result.load_with}', highlight=False, soft_wrap=True, markup=False)
