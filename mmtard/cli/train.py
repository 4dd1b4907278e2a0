"""`mmtard train`: a thin wrapper over :func:`mmtard.apis.train.train`."""
from __future__ import annotations

from typing import Optional, Tuple

import click

from ..apis.train_options import LOG_BACKENDS
from .common import cfg_options_option, console, friendly_errors, load_plugins_reporting_failures


@click.command('train')
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
@click.option('--log-backend', 'log_backends', multiple=True, type=click.Choice(sorted(LOG_BACKENDS)),
              help='Also log to TensorBoard or Weights & Biases (needs that package; repeatable).')
@click.option('--lr-from-config', is_flag=True, help="With --resume: the config's learning rate (and -o's) "
              "replaces the one the checkpoint saved, the schedule scaled to it.")
@click.option('--stretch-schedule', is_flag=True,
              help='Move the end of a learning-rate schedule written out in the config (or restored by --resume) to '
                   'where training ends, after -o train_cfg.max_iters=N (docs/training.md).')
@cfg_options_option
@friendly_errors
def train_command(config: Optional[str], work_dir: Optional[str], resume: Optional[str], overwrite: bool, launcher: str,
          amp: bool, verbose: bool, log_backends: Tuple[str, ...], lr_from_config: bool, stretch_schedule: bool,
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
    runner = train_api(config, work_dir=work_dir, resume=resume, cfg_options=options,
                       launcher=launcher, overwrite=overwrite, verbose=verbose, log_backends=log_backends,
                       lr_from_config=lr_from_config, stretch_schedule=stretch_schedule, amp=amp)
    from mmengine.dist import get_rank

    if get_rank() == 0:
        console.print(f'[green]done[/]: checkpoints and logs in {runner.work_dir}')
