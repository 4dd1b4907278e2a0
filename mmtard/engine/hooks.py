"""Hooks that mmtard's training configs add to mmengine's Runner."""
from __future__ import annotations

import logging
import math
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ..errors import ConfigError, MMTardError
from ..registry import HOOKS
from ..work_dir import resume_advice


def unwrap(model: Any) -> Any:
    return model.module if is_model_wrapper(model) else model


def loss_value(outputs: Dict[str, Any]) -> float:
    """The logged loss as a float (mmengine hands it over as a tensor that may carry a graph)."""
    value = outputs['loss']
    return float(value.detach()) if hasattr(value, 'detach') else float(value)


def input_size_note(model: Any, dataset: Any) -> str:
    """A sentence when the student's input size (a timm backbone's comes from its pretrained_cfg: 160 px
    for test_resnet, 224 for most) differs from the training images': every batch is then resized inside
    the model, which costs (size ratio)^2 and changes what the attack's eps means per input pixel."""
    student = getattr(model, 'student', None)
    student_size, data_size = getattr(student, 'image_size', None), getattr(dataset, 'image_size', None)
    if not isinstance(student_size, int) or not isinstance(data_size, int) or student_size == data_size:
        return ''
    return (f'The student ({type(student).__name__} {getattr(student, "architecture", "")}) takes {student_size} px '
            f'inputs and the training images are {data_size} px: every batch is resized to {student_size} px inside '
            f'the model ({(student_size / data_size) ** 2:.3g}x the pixels of the data). To train at the data\'s size, '
            f'set -o model.student.image_size={data_size}.')


@HOOKS.register_module()
class ZeroShotClassesHook(Hook):
    """Before training (or validation), give the model its class names and templates.

    The config's own ``model.classnames`` win; otherwise the dataset's ``classnames`` and
    ``templates`` are used, so one dataset config is the single source of the class list. A model
    that trains its text tower gets the evaluated dataset's classes embedded afresh each time.
    """

    priority = 'VERY_HIGH'

    def _set(self, runner: Any, loader_name: str) -> None:
        model = unwrap(runner.model)
        if not hasattr(model, 'ensure_classes'):
            return
        dataset = getattr(getattr(runner, loader_name, None), 'dataset', None)
        classnames, templates = getattr(dataset, 'classnames', None), getattr(dataset, 'templates', None)
        if model.trains_text_tower and loader_name != 'train_dataloader' and classnames and templates:
            model.set_classes(classnames, templates)  # the text tower moved: embed the classes again
        else:
            model.ensure_classes(classnames, templates)

    def before_train(self, runner: Any) -> None:
        self._set(runner, 'train_dataloader')
        note = input_size_note(unwrap(runner.model), getattr(runner.train_dataloader, 'dataset', None))
        if note:
            runner.logger.warning(note)
        classnames = getattr(unwrap(runner.model), 'classnames', None)
        if classnames is not None and len(classnames) < 2:
            raise ConfigError(f'The training data has {len(classnames)} class ({classnames}): zero-shot logits '
                              f'over one class are constant, so every loss is zero and nothing is learnt. Train '
                              f'on a dataset with at least 2 classes (an image folder needs one sub-folder per '
                              f'class).')

    def before_val(self, runner: Any) -> None:
        self._set(runner, 'val_dataloader')

    def before_test(self, runner: Any) -> None:
        self._set(runner, 'test_dataloader')


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Keep the random stream of training exactly as an uninterrupted run's, across ``--resume``.

    * Attacks draw their random starts from torch's global generator or from their own seeded ones;
      mmengine saves neither, so this hook stores both in the checkpoint's ``meta`` and puts them back.
    * Every ``iter(DataLoader)`` draws a worker base seed from the loader's generator, by default
      torch's global one: at each epoch start, and when a resumed run skips the data it already
      trained on, after the state was restored. The train and val loaders get a generator of their own.
    * Validation runs after the checkpoint of its iteration is saved, and a resumed run does not
      repeat it, so it must leave the training stream untouched: the state is put back after it.
    """

    priority = 'LOW'

    def __init__(self) -> None:
        self._outside_val: Optional[Dict[str, Any]] = None

    @staticmethod
    def _attacks(runner: Any) -> Dict[str, Any]:
        model = unwrap(runner.model)
        return {name: getattr(model, name) for name in ('attack', 'val_attack')
                if hasattr(getattr(model, name, None), 'get_rng_state')}

    def _capture(self, runner: Any) -> Dict[str, Any]:
        import torch

        state = {'torch': torch.get_rng_state(),
                 'attacks': {name: attack.get_rng_state() for name, attack in self._attacks(runner).items()}}
        if torch.cuda.is_available():
            state['cuda'] = torch.cuda.get_rng_state_all()
        return state

    def _restore(self, runner: Any, state: Dict[str, Any]) -> None:
        import torch

        torch.set_rng_state(state['torch'])
        if 'cuda' in state and torch.cuda.is_available() and len(state['cuda']) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state['cuda'])
        attacks = self._attacks(runner)
        for name, attack_state in state['attacks'].items():
            if name in attacks:
                attacks[name].set_rng_state(attack_state)

    def before_train(self, runner: Any) -> None:
        import torch

        for loop in (runner.train_loop, getattr(runner, '_val_loop', None)):
            loader = getattr(loop, 'dataloader', None)
            if loader is not None and getattr(loader, 'generator', None) is None:
                loader.generator = torch.Generator().manual_seed(runner.seed or 0)

    def before_save_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        checkpoint.setdefault('meta', {})['random_state'] = self._capture(runner)

    def after_load_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        state = checkpoint.get('meta', {}).get('random_state')
        if state is not None:
            self._restore(runner, state)

    def before_val(self, runner: Any) -> None:
        self._outside_val = self._capture(runner)

    def after_val(self, runner: Any) -> None:
        if self._outside_val is not None:
            self._restore(runner, self._outside_val)
            self._outside_val = None


class NonFiniteLossError(MMTardError):
    """Training produced a NaN or infinite loss."""


#: Largest weight magnitude a sane checkpoint holds: CLIP weights are O(1) (the logit scale's log is
#: 4.6), so one beyond 1e4 has diverged even while still finite.
SANE_WEIGHT_LIMIT = 1e4


def sane_weights(path: Path) -> bool:
    """Whether every floating-point weight in the checkpoint at ``path`` is finite and at most
    :data:`SANE_WEIGHT_LIMIT` in magnitude (an unreadable file is not sane)."""
    import torch

    from ..checkpoint import trusted_checkpoint_globals

    try:
        with trusted_checkpoint_globals():
            state = torch.load(path, map_location='cpu').get('state_dict', {})
    except Exception:  # a file torch cannot read holds nothing to resume from
        return False
    return all(bool(v.isfinite().all()) and (v.numel() == 0 or float(v.abs().max()) <= SANE_WEIGHT_LIMIT)
               for v in state.values() if torch.is_tensor(v) and v.is_floating_point())


@HOOKS.register_module()
class NaNGuardHook(Hook):
    """Stop at the first non-finite loss, saying where, instead of training on garbage; never save
    non-finite weights, so the last checkpoint is always from before the divergence.

    mmengine already reads every logged value on the host each iteration, so the loss check adds no
    synchronisation; the weights are checked once per checkpoint. The advice names the newest
    checkpoint whose trained weights are finite and sane (:func:`sane_weights`: a checkpoint saved
    on the way to a divergence holds weights near 1e29, and resuming from it diverges again) and the
    command that resumes from it with a tenth of the learning rate (``--lr-from-config``) and the
    run's other -o options; without such a checkpoint, the command starts afresh at that rate.
    """

    @staticmethod
    def _advice(runner: Any) -> str:
        lr = (runner.cfg.get('optim_wrapper') or {}).get('optimizer', {}).get('lr')
        lower = f'{lr / 10:g}' if isinstance(lr, (int, float)) else '<lower>'
        options = {k: v for k, v in getattr(runner, 'run_options', {}).items() if k != 'optim_wrapper.optimizer.lr'}
        lowered = f'-o optim_wrapper.optimizer.lr={lower}'
        advice = resume_advice(runner.work_dir, getattr(runner.cfg, 'filename', None), cfg_options=options,
                               extra=f'--lr-from-config {lowered}', accept=sane_weights, kind='sane')
        if 'start the run again' in advice:
            advice = advice.replace(f'--lr-from-config {lowered}', lowered)
        return (f'Common causes: a learning rate too high for the student, bf16 teachers on an unstable model, '
                f'or an attack step size far above eps. Lower the learning rate (--lr-from-config makes the '
                f'config\'s lr and -o win over the one the checkpoint saved) or fix the config. {advice}')

    def after_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None,
                         outputs: Optional[Dict[str, Any]] = None) -> None:
        if not outputs or 'loss' not in outputs:
            return
        value = loss_value(outputs)
        if not math.isfinite(value):
            raise NonFiniteLossError(f'The training loss became {value} at iteration {runner.iter + 1}. '
                                     f'{self._advice(runner)}')

    def before_save_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        import torch

        trainable = [p.detach() for p in unwrap(runner.model).parameters() if p.requires_grad and p.numel()]
        if not trainable:
            return
        done = checkpoint.get('meta', {}).get('iter', runner.iter)
        if not bool(torch.stack([p.isfinite().all() for p in trainable]).all()):
            raise NonFiniteLossError(f'The trained weights became non-finite (NaN or inf) by iteration {done}, '
                                     f'so its checkpoint was not saved. {self._advice(runner)}')
        largest = float(torch.stack([p.abs().max().float() for p in trainable]).max())
        if largest > SANE_WEIGHT_LIMIT:
            raise NonFiniteLossError(f'The trained weights diverged by iteration {done} (a weight of magnitude '
                                     f'{largest:.3g}; CLIP weights stay below {SANE_WEIGHT_LIMIT:g}), so its '
                                     f'checkpoint was not saved. {self._advice(runner)}')


def console_handlers(runner: Any) -> List[logging.StreamHandler]:
    """The handlers of mmengine's logger that write to the terminal (not its log file)."""
    return [h for h in runner.logger.handlers if type(h) is logging.StreamHandler]


def validation_count(loop: Any, after: int, until: int) -> int:
    """How many validations mmengine's train ``loop`` runs at iterations (or epochs) ``after+1 .. until``."""
    interval, begin = getattr(loop, 'val_interval', 0), getattr(loop, 'val_begin', 1)
    if not interval:
        return 0
    return sum(1 for i in range(after + 1, until + 1) if i >= begin and (i % interval == 0 or i == until))


@HOOKS.register_module()
class RichProgressHook(Hook):
    """One progress display for the whole run, on an interactive terminal: training and validation
    batches in one bar with one time estimate, the current loss, and each validation's metrics above it.

    mmengine's own console lines (with their own ETA) are then not shown (they stay in the work
    dir's log file), and its warnings are written through the bar, never glued to it. Elsewhere
    (a log file, CI) there is no bar and mmengine's per-interval lines show progress instead.
    """

    priority = 'LOW'

    def __init__(self, force: bool = False) -> None:
        self.force = force
        self._progress = None
        self._task = None
        self._streams: List[Tuple[logging.StreamHandler, Any]] = []
        self._status = ''

    def _validation_units(self, runner: Any) -> Tuple[int, int, int]:
        """(batches per validation, validations before now, validations in all)."""
        loader = getattr(getattr(runner, '_val_loop', None), 'dataloader', None)
        if loader is None:
            return 0, 0, 0
        loop = runner.train_loop
        by_epoch = hasattr(loop, 'max_epochs')
        now, end = (runner.epoch, loop.max_epochs) if by_epoch else (runner.iter, runner.max_iters)
        return len(loader), validation_count(loop, 0, now), validation_count(loop, 0, end)

    def before_train(self, runner: Any) -> None:
        if not (self.force or sys.stdout.isatty()):
            level = logging.getLevelName(str(runner.cfg.get('log_level', 'INFO')).upper())
            for handler in console_handlers(runner):  # no bar: mmengine's interval lines show progress
                handler.setLevel(max(logging.INFO, level if isinstance(level, int) else logging.INFO))
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        val_batches, done_vals, all_vals = self._validation_units(runner)
        self._progress = Progress(TextColumn('[bold]{task.description}'), BarColumn(),
                                  TextColumn('{task.fields[step]}'), TimeElapsedColumn(), TextColumn('ETA'),
                                  TimeRemainingColumn(), TextColumn('{task.fields[status]}'))
        self._task = self._progress.add_task('train', total=runner.max_iters + all_vals * val_batches,
                                             completed=runner.iter + done_vals * val_batches,
                                             step=f'{runner.iter}/{runner.max_iters} it', status='')
        self._progress.start()
        for handler in console_handlers(runner):  # write through the bar (rich redirected sys.stdout)
            self._streams.append((handler, handler.setStream(sys.stdout)))

    def after_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None,
                         outputs: Optional[Dict[str, Any]] = None) -> None:
        if self._progress is None:
            return
        loss = loss_value(outputs) if outputs and 'loss' in outputs else float('nan')
        self._status = f'loss {loss:.4f}'
        self._progress.update(self._task, advance=1, description='train', status=self._status,
                              step=f'{runner.iter + 1}/{runner.max_iters} it')

    def after_val_iter(self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=1, description='validate')

    def after_val_epoch(self, runner: Any, metrics: Optional[Dict[str, float]] = None) -> None:
        if self._progress is not None and metrics:
            shown = '  '.join(f'{name} {value:.4f}' for name, value in metrics.items()
                              if isinstance(value, (int, float)))
            self._progress.console.print(f'validation at iteration {runner.iter}: {shown}', highlight=False)
            self._progress.update(self._task, description='train')

    def after_train(self, runner: Any) -> None:
        self.close()

    def close(self) -> None:
        """Stop the display and give mmengine's handlers their stream back; also called when training
        stops with an error, which mmengine reports to no hook (else the cursor stays hidden)."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        for handler, stream in self._streams:
            handler.setStream(stream)
        self._streams = []
