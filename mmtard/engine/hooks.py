"""Hooks that mmtard's training configs add to mmengine's Runner."""
from __future__ import annotations

import math
import sys
from typing import Any, Dict, Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ..errors import MMTardError
from ..registry import HOOKS


def unwrap(model: Any) -> Any:
    return model.module if is_model_wrapper(model) else model


def loss_value(outputs: Dict[str, Any]) -> float:
    """The logged loss as a float (mmengine hands it over as a tensor that may carry a graph)."""
    value = outputs['loss']
    return float(value.detach()) if hasattr(value, 'detach') else float(value)


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


@HOOKS.register_module()
class NaNGuardHook(Hook):
    """Stop at the first non-finite loss, saying where, instead of training on garbage.

    mmengine already reads every logged value on the host each iteration, so this check adds no
    synchronisation. The last saved checkpoint stays valid for ``--resume``.
    """

    def after_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None,
                         outputs: Optional[Dict[str, Any]] = None) -> None:
        if not outputs or 'loss' not in outputs:
            return
        value = loss_value(outputs)
        if not math.isfinite(value):
            raise NonFiniteLossError(
                f'The training loss became {value} at iteration {runner.iter + 1}. Common causes: a learning '
                f'rate too high for the student, bf16 teachers on an unstable model, or an attack step size '
                f'far above eps. Lower optim_wrapper.optimizer.lr or fix the config, then resume from the last '
                f'checkpoint in {runner.work_dir} with --resume.')


@HOOKS.register_module()
class RichProgressHook(Hook):
    """A rich progress bar with time estimate and the current loss, on an interactive terminal only."""

    priority = 'LOW'

    def __init__(self, force: bool = False) -> None:
        self.force = force
        self._progress = None
        self._task = None

    def before_train(self, runner: Any) -> None:
        if not (self.force or sys.stdout.isatty()):
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self._progress = Progress(TextColumn('[bold]train'), BarColumn(), TextColumn('{task.completed}/{task.total}'),
                                  TimeElapsedColumn(), TimeRemainingColumn(), TextColumn('{task.fields[status]}'))
        self._task = self._progress.add_task('train', total=runner.max_iters, completed=runner.iter, status='')
        self._progress.start()

    def after_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None,
                         outputs: Optional[Dict[str, Any]] = None) -> None:
        if self._progress is None:
            return
        loss = loss_value(outputs) if outputs and 'loss' in outputs else float('nan')
        self._progress.update(self._task, completed=runner.iter + 1, status=f'loss {loss:.4f}')

    def after_train(self, runner: Any) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
