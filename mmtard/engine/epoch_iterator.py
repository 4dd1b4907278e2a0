"""The iteration-based loop's pass over a finite data loader, without mmengine's pause between epochs."""
from __future__ import annotations

from typing import Any

from mmengine.runner import IterBasedTrainLoop
from mmengine.runner.loops import _InfiniteDataloaderIterator


class EpochsWithoutPause(_InfiniteDataloaderIterator):
    """mmengine's endless iterator over a loader whose sampler ends (``DefaultSampler``), which sleeps
    2 s at each epoch's end so that restarting worker processes cannot deadlock. A loader without
    workers has nothing to restart, and its short epochs (a small image folder, a benchmark) would
    pay the pause again and again: here the next epoch starts at once, with the sampler told its
    number as mmengine does."""

    def __init__(self, started: _InfiniteDataloaderIterator) -> None:
        """Continue ``started`` (mmengine's, made with the loop), whose first epoch has begun: another
        ``iter`` of the loader would draw one more seed from torch's global generator and so change
        every random number after it."""
        self._dataloader, self._iterator, self._epoch = started._dataloader, started._iterator, started._epoch

    def __next__(self) -> Any:
        try:
            return next(self._iterator)
        except StopIteration:
            self._epoch += 1
            for sampler in (getattr(self._dataloader, 'sampler', None),
                            getattr(getattr(self._dataloader, 'batch_sampler', None), 'sampler', None)):
                if hasattr(sampler, 'set_epoch'):
                    sampler.set_epoch(self._epoch)
                    break
            self._iterator = iter(self._dataloader)
            return next(self._iterator)


def without_epoch_pause(loop: Any) -> Any:
    """``loop``, its iterator replaced by :class:`EpochsWithoutPause` when it is an iteration-based
    loop over a loader without worker processes (others are left as they are)."""
    if (isinstance(loop, IterBasedTrainLoop) and type(loop.dataloader_iterator) is _InfiniteDataloaderIterator
            and getattr(loop.dataloader, 'num_workers', None) == 0):
        loop.dataloader_iterator = EpochsWithoutPause(loop.dataloader_iterator)
    return loop
