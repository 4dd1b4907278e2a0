"""The iteration-based loop starts a new epoch of a worker-less loader at once, in mmengine's order."""
import itertools

import mmengine.runner.loops as mmengine_loops
import pytest
import torch
from mmengine.dataset import DefaultSampler
from mmengine.runner import IterBasedTrainLoop, Runner
from mmengine.runner.loops import _InfiniteDataloaderIterator
from torch.utils.data import DataLoader

from mmtard.engine.epoch_iterator import EpochsWithoutPause, without_epoch_pause
from mmtard.engine.runner import MMTardRunner


def loader(num_workers: int = 0) -> DataLoader:
    data = list(range(6))
    return DataLoader(data, batch_size=2, num_workers=num_workers, sampler=DefaultSampler(data, shuffle=True, seed=0))


def batches(iterator, count: int) -> list:
    return [batch.tolist() for batch in itertools.islice(iterator, count)]


def loop_over(dataloader: DataLoader) -> IterBasedTrainLoop:
    loop = object.__new__(IterBasedTrainLoop)  # the attributes without_epoch_pause reads, no runner needed
    loop.dataloader = dataloader
    loop.dataloader_iterator = _InfiniteDataloaderIterator(dataloader)
    return loop


def test_epochs_follow_each_other_without_a_pause_in_mmengines_order(monkeypatch):
    slept = []
    monkeypatch.setattr(mmengine_loops.time, 'sleep', slept.append)
    expected = batches(_InfiniteDataloaderIterator(loader()), 9)  # 3 epochs of 3 batches
    assert slept == [2, 2]  # mmengine's pause, once per epoch's end
    monkeypatch.setattr(mmengine_loops.time, 'sleep', lambda seconds: pytest.fail('paused'))
    found = batches(EpochsWithoutPause(_InfiniteDataloaderIterator(loader())), 9)
    assert found == expected
    epochs = [sorted(sum(found[e * 3:(e + 1) * 3], [])) for e in range(3)]
    assert epochs == [list(range(6))] * 3  # every epoch sees each sample once
    assert found[:3] != found[3:6]  # the sampler was told the new epoch: another order


def test_taking_over_mmengines_iterator_draws_no_random_number():
    """mmengine's loop has begun the first epoch (one seed drawn from the global generator); taking its
    iterator over draws none, so training's random numbers are those of mmengine's own loop."""
    started = _InfiniteDataloaderIterator(loader())
    state = torch.get_rng_state()
    continued = EpochsWithoutPause(started)
    assert torch.equal(torch.get_rng_state(), state) and continued._iterator is started._iterator


def test_only_loops_without_worker_processes_lose_the_pause():
    assert type(without_epoch_pause(loop_over(loader(0))).dataloader_iterator) is EpochsWithoutPause
    kept = without_epoch_pause(loop_over(loader(2)))  # restarting workers: mmengine's guard stays
    assert type(kept.dataloader_iterator) is _InfiniteDataloaderIterator
    other = object()
    assert without_epoch_pause(other) is other


def test_the_runner_builds_its_loops_without_the_pause(monkeypatch):
    monkeypatch.setattr(Runner, 'build_train_loop', lambda self, loop: loop_over(loader(0)))
    built = MMTardRunner.build_train_loop(object.__new__(MMTardRunner), dict(type='IterBasedTrainLoop'))
    assert type(built.dataloader_iterator) is EpochsWithoutPause
