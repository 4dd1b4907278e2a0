"""Train from a config: the plain function behind `mmtard train`."""
from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, Mapping, Optional, Sequence, Tuple, Union

import torch
from mmengine.config import Config

from ..atomic_files import remove_quietly
from ..component_checks import check_component_values
from ..config import parse_cfg_options, resolve_config
from ..engine.schedule_end import check_config_schedule
from ..errors import CheckpointError, ConfigError, RunDirectoryExistsError, TrainingStopped, error_detail
from ..plugins import ensure_plugins_loaded
from ..value_checks import check_flag, check_nonnegative_number, check_path, check_positive_int, check_positive_number
from ..work_dir import (check_output_dir, default_work_dir, discard_partial_checkpoints, has_complete_checkpoints,
                        is_complete_checkpoint, latest_checkpoint, later_checkpoints, remove_incomplete_checkpoints,
                        resume_advice, resume_checkpoint, work_dir_lock)
from .train_options import LOG_BACKENDS

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')
#: Variables each launcher sets and mmengine's process-group set-up reads.
LAUNCHER_ENV = {'pytorch': ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'),
                'slurm': ('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST'),
                'mpi': ('OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE', 'OMPI_COMM_WORLD_LOCAL_RANK')}
LAUNCHER_PROGRAM = {'pytorch': 'torchrun (torchrun --nproc_per_node=N -m mmtard train CONFIG --launcher pytorch)',
                    'slurm': 'srun', 'mpi': 'mpirun'}


def has_checkpoints(work_dir: Path) -> bool:
    """Whether ``work_dir`` holds a checkpoint to continue from (one cut short by a kill does not count)."""
    return has_complete_checkpoints(work_dir)


def normalise_resume(resume: Union[None, bool, str, os.PathLike]) -> Optional[str]:
    """None (fresh run), 'auto' or a checkpoint path, from what a Python caller may pass (True, a Path)."""
    if isinstance(resume, bool):
        return 'auto' if resume else None
    if resume is not None and not isinstance(resume, (str, os.PathLike)):
        raise ConfigError(f"resume={resume!r} must be None, 'auto' (or True) or a checkpoint path.")
    return None if resume is None else str(resume)


def prepare_config(config: Union[str, os.PathLike, Config], work_dir: Optional[Union[str, os.PathLike]] = None,
                   resume: Optional[str] = None, cfg_options: Optional[Dict[str, Any]] = None,
                   launcher: str = 'none', overwrite: bool = False) -> Config:
    """Resolve the work dir and resume settings, refusing to overwrite an earlier run.

    ``resume``: None or False (fresh run), ``'auto'`` or True (the work dir's latest checkpoint) or a
    checkpoint path.
    """
    resume = normalise_resume(resume)
    check_path(work_dir, 'work_dir', optional=True)
    check_flag(overwrite, 'overwrite')
    cfg = resolve_config(config, cfg_options)
    check_run_settings(cfg)
    check_component_values(cfg.to_dict().get('model'))
    if work_dir is not None:
        check_output_dir(work_dir, 'work dir')
        cfg.work_dir = str(work_dir)
    elif not cfg.get('work_dir'):
        if isinstance(config, Config):
            raise ConfigError('A config object without work_dir needs work_dir=... to be given.')
        cfg.work_dir = str(default_work_dir(config))
    check_work_dir(Path(cfg.work_dir), resume, overwrite)
    if resume is not None:
        cfg.resume = True
        cfg.load_from = str(resume_checkpoint(cfg.work_dir) if resume == 'auto' else resume)
    if launcher not in LAUNCHERS:
        raise ConfigError(f'Unknown launcher {launcher!r}; use one of {LAUNCHERS}.')
    missing_env = [name for name in LAUNCHER_ENV.get(launcher, ()) if name not in os.environ]
    if missing_env:
        raise ConfigError(f"--launcher {launcher} needs the environment its launcher sets ({', '.join(missing_env)} "
                          f"missing). Start it under {LAUNCHER_PROGRAM[launcher]}, or use --launcher none "
                          f"for one process.")
    cfg.launcher = launcher
    if launcher != 'none' and not torch.cuda.is_available():
        cfg.setdefault('model_wrapper_cfg', dict(type='mmtard.DeviceAwareDDP'))
    return cfg


def check_work_dir(run_dir: Path, resume: Optional[str], overwrite: bool) -> None:
    """Refuse a run that would replace an earlier run's checkpoints, or resume from nothing."""
    check_output_dir(run_dir, 'work dir')
    if resume == 'auto' and overwrite:
        raise ConfigError('--resume (continue the work dir\'s run) and --overwrite (replace it) contradict each '
                          'other. Drop --overwrite to continue the run, or drop --resume to start it afresh.')
    if resume is None and has_checkpoints(run_dir) and not overwrite:
        raise RunDirectoryExistsError(
            f"The work dir {str(run_dir)!r} already holds checkpoints of an earlier run. Continue it "
            f"with --resume, start elsewhere with --work-dir, or pass --overwrite to replace it.")
    if resume is not None:
        if resume != 'auto' and not Path(resume).is_file():
            raise CheckpointError(f"--resume {resume!r}: no such checkpoint file. Pass a .pth file "
                                  f"written by an earlier run, or --resume alone for the work dir's latest.")
        if (resume != 'auto' and has_checkpoints(run_dir) and not overwrite
                and Path(resume).resolve().parent != run_dir.resolve()):
            raise RunDirectoryExistsError(
                f"--resume {resume!r} continues another run, but the work dir {str(run_dir)!r} already holds "
                f"checkpoints of its own, which the resumed run would replace. Give a fresh --work-dir, "
                f"or pass --overwrite.")
        later = [] if resume == 'auto' or overwrite else later_checkpoints(run_dir, resume)
        if later and Path(resume).resolve().parent == run_dir.resolve():
            raise RunDirectoryExistsError(
                f"--resume {resume!r} goes back to an earlier iteration, but the work dir {str(run_dir)!r} holds the "
                f"later checkpoints {', '.join(p.name for p in later)}, which the resumed run would save again, "
                f"replacing them. Continue from the newest with --resume alone, or pass --overwrite to replace "
                f"them (copy them elsewhere first to keep them).")
        if resume == 'auto' and resume_checkpoint(run_dir) is None:
            raise CheckpointError(f"--resume: the work dir {str(run_dir)!r} holds no checkpoint to resume "
                                  f"from. Run without --resume, or point --work-dir at the earlier run.")


#: Counts and intervals the Runner reads, each a whole number >= 1: mmengine takes 0 or a negative one
#: and trains or validates nothing, never checkpoints or logs, or divides by it after the first step.
POSITIVE_INT_SETTINGS = ('train_cfg.max_iters', 'train_cfg.max_epochs', 'train_cfg.val_interval',
                         'train_dataloader.batch_size', 'val_dataloader.batch_size',
                         'train_dataloader.dataset.num_samples', 'auto_scale_lr.base_batch_size',
                         'default_hooks.checkpoint.interval', 'default_hooks.logger.interval')
#: The model's logit scales (a contrastive model's start and ceiling): logits are multiplied by them,
#: and a learned one is stored as its logarithm.
LOGIT_SCALE_SETTINGS = ('model.logit_scale', 'model.init_logit_scale', 'model.max_logit_scale')


def settings_named(node: Any, key: str, where: str) -> Iterator[Tuple[str, Any]]:
    """``(dotted path, value)`` of every ``key`` set under the config node ``node`` (list items by index)."""
    if isinstance(node, Mapping):
        for name, value in node.items():
            if name == key:
                yield f'{where}.{name}', value
            else:
                yield from settings_named(value, key, f'{where}.{name}')
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node):
            yield from settings_named(value, key, f'{where}.{index}')


def check_run_settings(cfg: Config) -> None:
    """Refuse the Runner settings torch and mmengine would reject only deep inside the run, or accept
    and then train nothing (``max_iters=0``, ``lr=0``) or train to NaN (``lr=nan``)."""
    settings = cfg.to_dict()

    def value(path: str) -> Any:
        node: Any = settings
        for part in path.split('.'):
            node = node.get(part) if isinstance(node, Mapping) else None
        return node

    for path in POSITIVE_INT_SETTINGS:
        if value(path) is not None:
            check_positive_int(value(path), path)
    for part in ('model', 'train_dataloader', 'val_dataloader'):
        for path, size in settings_named(settings.get(part), 'image_size', part):
            if size is not None:
                check_positive_int(size, path)
    for path in ('train_dataloader.num_workers', 'val_dataloader.num_workers'):
        workers = value(path)
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 0):
            raise ConfigError(f'{path}={workers!r} must be a whole number >= 0 (0 loads data in the main process).')
    for path in LOGIT_SCALE_SETTINGS:
        if value(path) is not None:
            check_positive_number(value(path), path, 'Logits are multiplied by it (CLIP: 100); at 0 they '
                                                     'would carry no class information.')
    if value('optim_wrapper.optimizer.lr') is not None:
        check_positive_number(value('optim_wrapper.optimizer.lr'), 'optim_wrapper.optimizer.lr',
                              'It scales every update: the release trains at 2e-5, and 0 would train nothing.')
    if value('optim_wrapper.optimizer.weight_decay') is not None:
        check_nonnegative_number(value('optim_wrapper.optimizer.weight_decay'), 'optim_wrapper.optimizer.weight_decay',
                                 '0 turns weight decay off; the release uses 1e-4.')


def init_cpu_process_group(launcher: str) -> None:
    """Under torchrun without GPUs, start a gloo process group ourselves.

    mmengine's pytorch launcher always calls ``torch.cuda.set_device``, which fails on a CPU-only
    machine; the Runner skips its own initialisation when a process group already exists.
    """
    import torch.distributed as dist

    if launcher == 'pytorch' and not torch.cuda.is_available() and not dist.is_initialized():
        dist.init_process_group(backend='gloo')


def add_log_backends(cfg: Config, backends: Sequence[str]) -> None:
    """Log to TensorBoard / Weights & Biases as well, through mmengine's vis backends (the local
    backend stays: `mmtard plot` reads it)."""
    for name in backends:
        if name not in LOG_BACKENDS:
            raise ConfigError(f'--log-backend {name!r} is not one of {", ".join(LOG_BACKENDS)}.')
        backend, package = LOG_BACKENDS[name]
        if importlib.util.find_spec(package) is None:
            raise ConfigError(f'--log-backend {name} needs the {package!r} package, which is not installed: '
                              f'pip install {package} (with the pip of the environment mmtard runs in).')
        visualizer = cfg.get('visualizer') or dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend')])
        visualizer['vis_backends'] = [*visualizer.get('vis_backends', []), dict(type=backend)]
        cfg.visualizer = visualizer


def train(config: Union[str, os.PathLike, Config], work_dir: Optional[Union[str, os.PathLike]] = None,
          resume: Union[None, bool, str, os.PathLike] = None, cfg_options: Optional[Dict[str, Any]] = None,
          launcher: str = 'none', overwrite: bool = False, verbose: bool = False,
          log_backends: Sequence[str] = (), lr_from_config: bool = False, stretch_schedule: bool = False,
          amp: bool = False) -> Any:
    """Build mmengine's Runner from the config and train; returns the Runner (``runner.work_dir``, ``runner.model``).

    mmengine's environment and config dump go to the work dir's log file only, unless ``verbose``.
    ``lr_from_config``: on resume, the config's learning rate (with ``cfg_options``) replaces the
    checkpoint's, the schedule scaled to it (after a divergence: resume with a lower lr).
    A learning-rate schedule that ends elsewhere than training (a changed ``max_iters``, a resumed run
    extended) is said before training; ``stretch_schedule`` moves its end to training's instead
    (:mod:`mmtard.engine.schedule_end`). ``amp``: bfloat16 mixed precision (`--amp`; the attack, logits
    and KL terms stay fp32).
    """
    ensure_plugins_loaded()
    resume = normalise_resume(resume)
    if amp:
        from ..engine.amp import AMP_OPTIM_WRAPPER

        cfg_options = {**(parse_cfg_options(cfg_options) if isinstance(cfg_options, (list, tuple)) else cfg_options or {}),
                       'optim_wrapper.type': AMP_OPTIM_WRAPPER}
    cfg = prepare_config(config, work_dir, resume, cfg_options, launcher, overwrite)
    resolved_options = parse_cfg_options(cfg_options) if isinstance(cfg_options, (list, tuple)) else cfg_options or {}
    add_log_backends(cfg, log_backends)
    if lr_from_config:
        if resume is None:
            raise ConfigError('--lr-from-config applies to a resumed run (its checkpoint saved a learning rate); '
                              'add --resume, or drop the option: a fresh run takes the config\'s lr anyway.')
        if not isinstance((cfg.get('optim_wrapper') or {}).get('optimizer', {}).get('lr'), (int, float)):
            raise ConfigError('--lr-from-config needs optim_wrapper.optimizer.lr in the config (or -o).')
        cfg.resume_lr_from_config = True
    said = check_config_schedule(cfg, stretch_schedule)
    if said and int(os.environ.get('RANK', 0)) == 0:
        print(said, file=sys.stderr)
    if stretch_schedule:
        cfg.stretch_schedule = True  # a resumed run's schedulers, restored with their old end, are stretched too
    if verbose or 'console_log_level' not in cfg:
        cfg.console_log_level = 'INFO' if verbose else 'WARNING'
    lock = work_dir_lock(cfg.work_dir) if int(os.environ.get('RANK', 0)) == 0 else contextlib.nullcontext()
    with lock:
        for path in discard_partial_checkpoints(cfg.work_dir):  # what a killed save left; no run writes here now
            print(f'note: removed {str(path)!r}, left incomplete by an interrupted save.', file=sys.stderr)
        check_work_dir(Path(cfg.work_dir), resume, overwrite)  # again, now that no other run can write there
        init_cpu_process_group(launcher)
        runner = build_runner(cfg)
        runner.run_options = dict(resolved_options)
        train_with_advice(runner, cfg.work_dir, None if isinstance(config, Config) else str(config), resume,
                          resolved_options)
    return runner


def build_runner(cfg: Config) -> Any:
    """mmengine's Runner for ``cfg``. mmengine creates the run's log folder before it builds the model:
    when building fails (a teacher file gone, a model that cannot be built), the folders it created are
    removed, so a refused run leaves the work dir as it was."""
    from ..engine.runner import MMTardRunner

    work_dir = Path(cfg.work_dir)
    owner = int(os.environ.get('RANK', 0)) == 0 and work_dir.is_dir()  # the process holding the work dir's lock
    before = set(work_dir.iterdir()) if owner else set()
    try:
        return MMTardRunner.from_cfg(cfg)
    except BaseException:
        for path in set(work_dir.iterdir()) - before if owner else ():
            if path.is_dir():
                remove_quietly(path)
        raise


def train_with_advice(runner: Any, work_dir: str, config: Optional[str], resume: Optional[str],
                      cfg_options: Optional[Mapping[str, Any]] = None) -> None:
    """``runner.train()``; when it stops early, say which checkpoint to continue from, and how (with the
    run's own ``cfg_options``)."""
    from ..engine.hooks import RichProgressHook

    try:
        runner.train()
    except KeyboardInterrupt:
        raise TrainingStopped(f'Training was interrupted. {resume_advice(work_dir, config, cfg_options=cfg_options)}',
                              exit_code=130) from None
    except CheckpointError as err:
        failed = resume if resume != 'auto' else latest_checkpoint(work_dir)
        if failed is None or is_complete_checkpoint(Path(failed)):
            raise
        raise CheckpointError(f'{err} {resume_advice(work_dir, config, [failed], cfg_options)}') from None
    except OSError as err:  # ENOSPC while saving leaves a partial checkpoint beside the complete ones
        removed = remove_incomplete_checkpoints(work_dir)
        note = f" The incomplete {', '.join(repr(str(p)) for p in removed)} was removed." if removed else ''
        raise TrainingStopped(f'Training stopped: {error_detail(err)}.{note} Fix the cause (free disk space, '
                              f'permissions), then continue. '
                              f'{resume_advice(work_dir, config, cfg_options=cfg_options)}') from None
    finally:
        for hook in runner.hooks:
            if isinstance(hook, RichProgressHook):
                hook.close()
