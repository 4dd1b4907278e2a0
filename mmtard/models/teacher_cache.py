"""Clean-input teacher embeddings kept per dataset index, so later epochs (and runs) skip those forwards."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import Tensor

from ..atomic_files import torch_bytes, write_bytes_atomic
from ..errors import CheckpointError


class TeacherEmbeddingCache:
    """Host-side store of one teacher's embeddings of clean images, keyed by dataset index.

    Rows go to the host without stalling the GPU: on CUDA they are copied into pinned memory with
    ``non_blocking=True`` and a CUDA event marks when the copy is done; a later read waits on that
    event only, which by then (a later epoch) has long completed. Lookups are per sample, so a batch
    that is partly cached (the usual case under DDP, where each rank sees a different share of the
    data every epoch) only runs the teacher on its missing samples.
    """

    def __init__(self) -> None:
        self._rows: Dict[int, Tuple[Tensor, Optional[torch.cuda.Event]]] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def partition(self, keys: Sequence[int]) -> Tuple[List[int], List[int]]:
        """Positions in ``keys`` whose embedding is stored, and those whose embedding is not."""
        hits: List[int] = []
        missing: List[int] = []
        for pos, key in enumerate(keys):
            (hits if key in self._rows else missing).append(pos)
        return hits, missing

    def load(self, keys: Sequence[int]) -> Tensor:
        """(len(keys), D) stored embeddings on the host, in the order of ``keys``."""
        rows = [self._rows[key] for key in keys]
        for event in {id(e): e for _, e in rows if e is not None}.values():
            event.synchronize()
        return torch.stack([row for row, _ in rows])

    def store(self, keys: Sequence[int], embeddings: Tensor) -> None:
        embeddings = embeddings.detach()
        event = None
        if embeddings.is_cuda:
            host = torch.empty(embeddings.shape, dtype=embeddings.dtype, pin_memory=True)
            host.copy_(embeddings, non_blocking=True)
            event = torch.cuda.Event()
            event.record()
        else:
            host = embeddings.clone()  # not a view of a tensor the caller may change
        for key, row in zip(keys, host):
            self._rows[key] = (row, event)

    def save(self, path: Path, identity: Mapping[str, str]) -> None:
        """Write every stored row, with ``identity`` (what they were computed from), atomically."""
        keys = sorted(self._rows)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, torch_bytes({'identity': dict(identity), 'keys': torch.tensor(keys, dtype=torch.long),
                                              'embeddings': self.load(keys)}))

    def load_file(self, path: Path, identity: Mapping[str, str]) -> int:
        """Store the rows :meth:`save` wrote, if they were computed from ``identity``; how many."""
        content = torch.load(path, map_location='cpu', weights_only=True)
        written = content.get('identity', {})
        differing = sorted(key for key in set(identity) | set(written) if identity.get(key) != written.get(key))
        if differing:
            details = ', '.join(f'{key}: {written.get(key)!r} there, {identity.get(key)!r} here' for key in differing)
            raise CheckpointError(
                f'The teacher-output cache {str(path)!r} was computed for another {" and ".join(differing)} than '
                f'this run uses ({details}). Run `mmtard cache-teacher` again with this config, or delete the file.')
        self.store(content['keys'].tolist(), content['embeddings'])
        return len(content['keys'])
