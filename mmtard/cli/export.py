"""`mmtard export`: a thin wrapper over :func:`mmtard.apis.export.export`."""
from __future__ import annotations

from typing import Optional

import click

from .common import console, friendly_errors, load_plugins_reporting_failures


@click.command('export')
@click.argument('checkpoint', type=click.Path(dir_okay=False))
@click.option('--format', 'fmt', required=True, metavar='open_clip|vision|hf-hub|timm',
              help='open_clip: full CLIP state dict; vision: image tower only; hf-hub: open_clip hub folder with '
                   'a model card; timm: a timm student\'s trunk.')
@click.option('--out', type=click.Path(), default=None,
              help='Where to write (.pt or .safetensors; a folder for hf-hub). Default: next to CHECKPOINT, '
                   'named <checkpoint>-<format>. Never overwritten.')
@friendly_errors
def export_command(checkpoint: str, fmt: str, out: Optional[str]) -> None:
    """Export the student of a training CHECKPOINT to a format open_clip or timm loads alone."""
    from ..apis.export import export

    load_plugins_reporting_failures()
    result = export(checkpoint, fmt, out)
    console.print(f'[green]exported[/] {result.format}: {result.path}', highlight=False, soft_wrap=True)
    console.print(f'load it with: {result.load_with}', highlight=False, soft_wrap=True, markup=False)
