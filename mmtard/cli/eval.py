"""`mmtard eval`: a thin wrapper over :func:`mmtard.apis.evaluate.evaluate`."""
from __future__ import annotations

from typing import Optional, Tuple

import click

from .common import cfg_options_option, console, friendly_errors, load_plugins_reporting_failures


#: The names of :data:`mmtard.evaluation.plan.PRESETS` and its PRESET_ALIASES, spelt out so that `--help` needs no
#: torch (a test keeps them equal).
PRESET_NAMES = ('quick', 'mmt-ard-release', 'paper')


@click.command('eval')
@click.argument('config', type=click.Path(dir_okay=False))
@click.option('--checkpoint', '-c', type=click.Path(dir_okay=False), default=None,
              help='mmengine checkpoint written by `mmtard train` (default: the weights the config names).')
@click.option('--out', type=click.Path(file_okay=False), default=None,
              help='Output folder (default: <work_dir>/eval/<checkpoint>_<model key>_<preset>); an unfinished '
                   'evaluation there is resumed.')
@click.option('--preset', type=click.Choice(PRESET_NAMES), default=None,
              help="Sample budgets and eps: 'quick' (256 clean / 64 robust, eps 2) or 'mmt-ard-release' (alias "
                   "'paper': what the MMT-ARD release ran: full split / 1000 robust, ImageNet 5000 / 5000, eps 1, 2, "
                   '4); overrides the config.')
@click.option('--model-key', default='student', show_default=True,
              help="Which encoder of the model to evaluate, e.g. 'teachers.robust'.")
@click.option('--device', default=None, help='torch device (default: cuda if available, else cpu).')
@click.option('--overwrite', is_flag=True, help='Replace the finished results (and partial results) in the out folder.')
@cfg_options_option
@friendly_errors
def eval_command(config: str, checkpoint: Optional[str], out: Optional[str], preset: Optional[str], model_key: str,
                 device: Optional[str], overwrite: bool, cfg_options: Tuple[str, ...]) -> None:
    """Zero-shot clean and robust accuracy (and retrieval recall) of CONFIG's model on its benchmark."""
    from ..apis.evaluate import evaluate
    from ..config import parse_cfg_options

    load_plugins_reporting_failures()
    evaluate(config, checkpoint=checkpoint, out_dir=out, preset=preset, model_key=model_key,
             cfg_options=parse_cfg_options(cfg_options), overwrite=overwrite, device=device, console=console)
