"""mmengine's Runner, with lean checkpoints and checkpoint loading that fails clearly instead of half-way."""
from __future__ import annotations

from typing import Any, Optional

from mmengine.dist import master_only
from mmengine.model import is_model_wrapper
from mmengine.runner import CheckpointLoader, Runner

from ..checkpoint import trusted_checkpoint_globals
from ..errors import CheckpointError, MMTardError, error_detail
from .lean_checkpoint import TEACHERS_META_KEY, leaving_out_frozen_teachers, load_training_state, teacher_identities


class MMTardRunner(Runner):
    """``load_from`` loads strictly: mmengine's default would report the missing keys in the log
    and then train from random weights. A checkpoint that cannot be read, or does not fit the
    model or optimizer, is a :class:`CheckpointError` naming the file, never a raw ``EOFError`` or
    ``KeyError`` from deep inside torch.

    Checkpoints leave the frozen teachers' weights out and record their identity instead
    (:mod:`mmtard.engine.lean_checkpoint`); loading one checks the config's teachers against it.
    """

    @property
    def unwrapped_model(self) -> Any:
        return self.model.module if is_model_wrapper(self.model) else self.model

    @master_only
    def save_checkpoint(self, *args: Any, meta: Optional[dict] = None, **kwargs: Any) -> None:
        model = self.unwrapped_model
        meta = {**(meta or {}), TEACHERS_META_KEY: teacher_identities(model)}
        with leaving_out_frozen_teachers(model):
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
