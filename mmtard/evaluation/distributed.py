"""Many processes on one benchmark: which batches a process attacks and how they meet again.

Under torchrun every process builds the same datasets, draws the same samples and cuts them into
the same batches; batch ``b`` is computed by rank ``b % world_size`` (every batch's attack is seeded
by its own (seed, dataset, eps, batch), never by the process), and the finished batches are gathered
on every rank in batch order. The numbers are therefore those of one process on the same samples,
bit for bit, and each process stores its batches in its own partial file (:mod:`.partial`).
"""
from __future__ import annotations

import atexit
import contextlib
import os
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional

import torch
import torch.distributed as dist

from ..errors import ConfigError

#: What torchrun sets for each process; evaluation needs them under ``--launcher pytorch``.
TORCHRUN_ENV = ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT')
EVAL_LAUNCHERS = ('none', 'pytorch')


@dataclass(frozen=True)
class Shard:
    """This process's place among the evaluating processes (rank 0 of 1 when alone)."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def owns(self, batch: int) -> bool:
        """Whether this process computes batch number ``batch`` (round robin, so every rank gets work)."""
        return batch % self.world_size == self.rank

    def gather(self, values: Dict[int, Any]) -> Dict[int, Any]:
        """Every rank's ``{batch: value}`` merged, on every rank (a no-op alone)."""
        if self.world_size == 1:
            return values
        parts: List[Optional[Dict[int, Any]]] = [None] * self.world_size
        dist.all_gather_object(parts, values)
        merged: Dict[int, Any] = {}
        for part in parts:
            merged.update(part or {})
        return merged

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()

    def check_same_model(self, checksum: str) -> None:
        """Refuse (on every rank) processes whose models differ: each scores its own batches, and the
        merged rows would mix several models' numbers under one name (weights that differ between nodes,
        a random initialisation that was not seeded alike)."""
        checksums = self.gather({self.rank: checksum})
        if len(set(checksums.values())) > 1:
            found = ', '.join(f'rank {rank}: {value[:12]}' for rank, value in sorted(checksums.items()))
            raise ConfigError(f'The {self.world_size} evaluating processes built different models (weights '
                              f'checksums {found}), so their batches would be scored by different models and '
                              f'merged into one row. Give every process the same weights: the same --pretrained / '
                              f'--checkpoint file on every node, and no weights a process draws on its own.')


def current_shard() -> Shard:
    """The running process group's rank and size, or a single process's shard without one."""
    if dist.is_available() and dist.is_initialized():
        return Shard(dist.get_rank(), dist.get_world_size())
    return Shard()


@contextlib.contextmanager
def seeded_initialisation(seed: int) -> Iterator[None]:
    """Build the evaluated model inside this: what its weights do not set (``--model`` without
    ``--pretrained``, a text tower without its weights) is drawn from torch's CPU generator seeded by
    ``seed``, so every torchrun process builds the same model as one process would, and a rerun (a
    resume) the same again. The caller's generator state is restored afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        yield


def launched_by_torchrun() -> bool:
    return all(name in os.environ for name in TORCHRUN_ENV) and int(os.environ['WORLD_SIZE']) > 1


def resolve_launcher(launcher: Optional[str]) -> str:
    """``launcher`` checked, or (None) 'pytorch' when torchrun started several processes, else 'none':
    several processes each evaluating everything into the same folder would only collide."""
    if launcher is None:
        return 'pytorch' if launched_by_torchrun() else 'none'
    if launcher not in EVAL_LAUNCHERS:
        raise ConfigError(f'--launcher {launcher!r}: evaluation runs alone (none) or under torchrun (pytorch), e.g. '
                          f'torchrun --nproc_per_node=8 -m mmtard eval ... --launcher pytorch.')
    missing = [name for name in TORCHRUN_ENV if name not in os.environ]
    if launcher == 'pytorch' and missing:
        raise ConfigError(f'--launcher pytorch needs the environment torchrun sets ({", ".join(missing)} missing). '
                          f'Start it as torchrun --nproc_per_node=N -m mmtard eval ..., or drop --launcher.')
    return launcher


def init_eval_process_group(launcher: str, device: Optional[str]) -> Optional[torch.device]:
    """Join torchrun's process group (nccl on GPUs, one per local rank; gloo on CPUs) and return
    this process's device; None (and nothing started) for ``launcher='none'``."""
    if launcher == 'none':
        return None
    use_cuda = torch.cuda.is_available() and (device is None or torch.device(device).type == 'cuda')
    run_device = torch.device('cuda', int(os.environ['LOCAL_RANK'])) if use_cuda else torch.device('cpu')
    if use_cuda:
        torch.cuda.set_device(run_device)
    if not dist.is_initialized():
        dist.init_process_group(backend='nccl' if use_cuda else 'gloo')
        atexit.register(destroy_process_group)
    return run_device


def destroy_process_group() -> None:
    """Leave the process group before the interpreter exits, as torch asks: a group left to the C++
    destructors at exit is the likely cause of a rank that aborted ("terminate called without an
    active exception") after its evaluation had finished, once in a CI run of the test suite."""
    if dist.is_initialized():
        dist.destroy_process_group()
