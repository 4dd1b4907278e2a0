"""mmengine's Runner, with lean checkpoints written whole or not at all, and checkpoint loading that
fails clearly instead of half-way."""
from __future__ import annotations

import contextlib
import itertools
import logging
import sys
import warnings
from pathlib import Path
from typing import Any, Iterator, Optional

from mmengine.config import Config
from mmengine.dist import master_only
from mmengine.model import is_model_wrapper
from mmengine.runner import CheckpointLoader, Runner

from ..atomic_files import torch_bytes, write_bytes_atomic
from ..checkpoint import trusted_checkpoint_globals
from ..errors import CheckpointError, ConfigError, MMTardError, error_detail
from .epoch_iterator import without_epoch_pause
from .formatted_config import formatted_once
from .lean_checkpoint import TEACHERS_META_KEY, leaving_out_frozen_teachers, load_training_state, teacher_identities
from .schedule_end import check_resumed_schedule


#: mmengine warnings about its own internals or expected behaviour, which a user cannot act on: kept
#: in the log file, left off the terminal unless --verbose.
MMENGINE_NOTICES = ('"FileClient" will be deprecated', '"HardDiskBackend" is the alias',
                    'Reach the end of the dataloader', 'Advance dataloader',
                    'has no metainfo. ``dataset_meta`` in visualizer will be None')


#: Numbers the runners this process builds (see :meth:`MMTardRunner.__init__`).
_RUNNERS_BUILT = itertools.count()


def drop_mmengine_notices(record: logging.LogRecord) -> bool:
    message = str(record.msg)
    return not any(notice in message for notice in MMENGINE_NOTICES)


def scale_resumed_learning_rate(runner: Runner, lr: float) -> None:
    """Scale a resumed run's learning rates (optimizer groups and schedulers) so that the initial one is ``lr``."""
    groups = runner.optim_wrapper.optimizer.param_groups
    initial = groups[0].get('initial_lr', groups[0]['lr'])
    factor = lr / initial
    for group in groups:
        for key in ('lr', 'initial_lr'):
            if key in group:
                group[key] *= factor
    for scheduler in runner.param_schedulers or []:
        if getattr(scheduler, 'param_name', None) == 'lr':
            scheduler.base_values = [value * factor for value in scheduler.base_values]
            scheduler._last_value = [value * factor for value in scheduler._last_value]
    runner.logger.info(f'--lr-from-config: learning rates scaled by {factor:g} (initial lr {initial:g} -> {lr:g})')


def _save_atomically(checkpoint: dict, filename: str, *args: Any, **kwargs: Any) -> None:
    write_bytes_atomic(filename, torch_bytes(checkpoint))


@contextlib.contextmanager
def atomic_checkpoint_files() -> Iterator[None]:
    """mmengine writes a checkpoint's bytes straight into ``iter_N.pth``: a kill during the write would
    leave half a checkpoint that a rerun takes for a run to continue. Inside this block local files
    are written through a temporary renamed over them (:func:`mmtard.atomic_files.write_bytes_atomic`)."""
    import mmengine.runner.runner as runner_module

    original = runner_module.save_checkpoint
    runner_module.save_checkpoint = lambda checkpoint, filename, *args, **kwargs: (
        original(checkpoint, filename, *args, **kwargs) if '://' in str(filename)
        else _save_atomically(checkpoint, filename))
    try:
        yield
    finally:
        runner_module.save_checkpoint = original


class MMTardRunner(Runner):
    """``load_from`` loads strictly: mmengine's default would report the missing keys in the log
    and then train from random weights. A checkpoint that cannot be read, or does not fit the
    model or optimizer, is a :class:`CheckpointError` naming the file, never a raw ``EOFError`` or
    ``KeyError`` from deep inside torch.

    Checkpoints leave the frozen teachers' weights out and record their identity instead
    (:mod:`mmtard.engine.lean_checkpoint`); loading one checks the config's teachers against it.
    """

    def __init__(self, *args: Any, experiment_name: Optional[str] = None, cfg: Any = None, **kwargs: Any) -> None:
        """mmengine keys its logger, message hub and visualizer by the experiment name, which ends in the
        start second: a second run started in the same second in one process (the API called twice, a
        test suite) would get the first's, writing its log lines to the first's stream and log file.
        Each runner's name therefore carries this process's count of runners built. Its config formats
        its text once (:mod:`mmtard.engine.formatted_config`)."""
        filename = getattr(cfg, 'filename', None) if cfg is not None else None
        stem = experiment_name or (Path(filename).stem if filename else 'run')
        cfg = formatted_once(cfg) if isinstance(cfg, Config) else cfg
        super().__init__(*args, experiment_name=f'{stem}-{next(_RUNNERS_BUILT)}', cfg=cfg, **kwargs)

    def setup_env(self, env_cfg: dict) -> None:
        """mmengine's, without its warning that a process started by ``spawn`` (the chain's workers, a
        notebook) is switched to the config's ``fork``: expected, harmless, and nothing a user acts on."""
        with warnings.catch_warnings():
            warnings.filterwarnings('ignore', message='Multi-processing start method', category=UserWarning)
            super().setup_env(env_cfg)

    def build_logger(self, log_level: Any = 'INFO', log_file: Optional[str] = None, **kwargs: Any) -> Any:
        """mmengine's logger, whose terminal output starts at the config's ``console_log_level``
        (`mmtard train` sets WARNING unless --verbose): the environment and config dump, hook tables
        and set-up notes go to the work dir's log file only."""
        logger = super().build_logger(log_level=log_level, log_file=log_file, **kwargs)
        console_level = logging.getLevelName(str(self.cfg.get('console_log_level', 'INFO')).upper())
        for handler in logger.handlers:
            if type(handler) is logging.StreamHandler and isinstance(console_level, int):
                handler.setLevel(max(handler.level, console_level))
                if console_level > logging.INFO:
                    handler.addFilter(drop_mmengine_notices)
        return logger

    def resume(self, filename: str, *args: Any, **kwargs: Any) -> None:
        """mmengine's resume; with the config's ``resume_lr_from_config`` (`--lr-from-config`), the
        learning rate the checkpoint saved yields to the config's (and ``-o``'s): every param group
        and scheduler is scaled by config lr / the run's initial lr, so the schedule keeps its shape."""
        try:
            super().resume(filename, *args, **kwargs)
        except KeyError as err:  # mmengine reads checkpoint['meta']['iter'], ['message_hub'], ... unguarded
            raise CheckpointError(
                f'{filename!r} holds weights but not the training state --resume continues (no {err} entry): it '
                f'was not written by `mmtard train` (an exported or hand-saved state dict?). To start from its '
                f'weights instead, run without --resume and with -o load_from={filename} (the whole model) or '
                f'-o model.student.pretrained=<file> (the student).') from None
        if self.iter > self.max_iters:  # mmengine would train nothing and say it finished
            raise ConfigError(
                f'{filename!r} is at iteration {self.iter}, beyond this run\'s end (train_cfg.max_iters='
                f'{self.max_iters}): resuming would train nothing. To train on, set -o train_cfg.max_iters= above '
                f'{self.iter} (with --stretch-schedule to end the learning-rate schedule there); to use the '
                f'checkpoint as it is, evaluate or export it.')
        if self.cfg.get('resume_lr_from_config'):
            scale_resumed_learning_rate(self, self.cfg.optim_wrapper.optimizer.lr)
        said = check_resumed_schedule(self, bool(self.cfg.get('stretch_schedule')))
        if said and self.rank == 0:
            print(said, file=sys.stderr)

    def build_train_loop(self, loop: Any) -> Any:
        """mmengine's, without its 2 s pause at every epoch's end where no worker process restarts
        (:mod:`mmtard.engine.epoch_iterator`)."""
        return without_epoch_pause(super().build_train_loop(loop))

    @property
    def unwrapped_model(self) -> Any:
        return self.model.module if is_model_wrapper(self.model) else self.model

    @master_only
    def save_checkpoint(self, *args: Any, meta: Optional[dict] = None, **kwargs: Any) -> None:
        model = self.unwrapped_model
        meta = {**(meta or {}), TEACHERS_META_KEY: teacher_identities(model)}
        with leaving_out_frozen_teachers(model), atomic_checkpoint_files():
            super().save_checkpoint(*args, meta=meta, **kwargs)

    def load_checkpoint(self, filename: str, map_location: Any = 'cpu', strict: bool = True,
                        revise_keys: Any = None) -> dict:
        """mmengine's, but always exact (``strict`` and ``revise_keys`` are ignored: mmengine's resume
        loads non-strictly and would train on from random weights where a key is missing)."""
        checkpoint = CheckpointLoader.load_checkpoint(filename, map_location=map_location)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        load_training_state(self.unwrapped_model, checkpoint, f'Checkpoint {filename!r}')
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint

    def load_or_resume(self) -> None:
        if self._has_loaded:
            return
        source = self._load_from or f'the latest checkpoint in {self.work_dir}'
        try:
            with trusted_checkpoint_globals():  # torch >= 2.6 refuses mmengine's own checkpoints otherwise
                if self._load_from is not None and not self._resume:
                    self.load_checkpoint(self._load_from, strict=True)
                    self._has_loaded = True
                else:
                    super().load_or_resume()
        except MMTardError:
            raise
        except Exception as err:  # unpickling, truncated files and state-dict mismatches all differ
            action = 'resume from' if self._resume else 'load'
            raise CheckpointError(
                f'Could not {action} {source!r} ({error_detail(err)}). It must be a complete '
                f'checkpoint written by `mmtard train` with this same config (model type, architectures and '
                f'optimizer). To start a student from other weights, set model.student.pretrained=<file> '
                f'instead of load_from.') from None
