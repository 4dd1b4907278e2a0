"""mmengine's Runner, with checkpoint loading that fails clearly instead of half-way."""
from __future__ import annotations

from mmengine.runner import Runner

from ..errors import CheckpointError, MMTardError, error_detail
from ..checkpoint import trusted_checkpoint_globals


class MMTardRunner(Runner):
    """``load_from`` loads strictly: mmengine's default would report the missing keys in the log
    and then train from random weights. A checkpoint that cannot be read, or does not fit the
    model or optimizer, is a :class:`CheckpointError` naming the file, never a raw ``EOFError`` or
    ``KeyError`` from deep inside torch."""

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
