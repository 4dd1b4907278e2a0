"""Clean-input teacher embeddings kept per dataset index, so later epochs (and runs) skip those forwards."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from ..errors import ConfigError
from .shared_rows import SharedRows


class TeacherEmbeddingCache:
    """Store of one teacher's embeddings of clean images, keyed by dataset index.

    Rows go to the host without stalling the GPU: on CUDA they are copied into pinned memory with
    ``non_blocking=True`` and a CUDA event marks when the copy is done; they wait in this process
    until then. Once :meth:`attach` gave the cache a :class:`~mmtard.models.shared_rows.SharedRows`
    file (training does: one per machine, shared by its processes), finished rows move there, where
    every process reads them. Lookups are per sample, so a batch that is partly cached (the usual
    case under DDP, where each rank sees a different share of the data every epoch) only runs the
    teacher on its missing samples.
    """

    def __init__(self) -> None:
        self._rows: Dict[int, Tuple[Tensor, Optional[torch.cuda.Event]]] = {}
        self._file: Optional[SharedRows] = None

    def __len__(self) -> int:
        return len(self._rows) + (self._file.filled_count() if self._file is not None else 0)

    def attach(self, file: SharedRows) -> None:
        """Keep rows in ``file`` from now on (the rows stored so far move there)."""
        self._file = file
        self._flush(wait=True)

    def partition(self, keys: Sequence[int]) -> Tuple[List[int], List[int]]:
        """Positions in ``keys`` whose embedding is stored, and those whose embedding is not."""
        self._flush(wait=False)
        in_file = self._file_filled(keys)
        hits: List[int] = []
        missing: List[int] = []
        for pos, key in enumerate(keys):
            (hits if in_file[pos] or key in self._rows else missing).append(pos)
        return hits, missing

    def load(self, keys: Sequence[int]) -> Tensor:
        """(len(keys), D) stored embeddings on the host, in the order of ``keys``."""
        if self._file is not None:
            self._flush(wait=True)
            return self._file.read(keys)
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
        self._flush(wait=False)

    def _file_filled(self, keys: Sequence[int]) -> List[bool]:
        if self._file is None:
            return [False] * len(keys)
        if keys and (min(keys) < 0 or max(keys) >= self._file.rows):
            raise ConfigError(f'The dataset gave the sample index {max(keys) if max(keys) >= 0 else min(keys)}, '
                              f'outside the {self._file.rows} rows of the teacher-output cache {str(self._file.path)!r}'
                              f': the cache needs datasets whose "index" numbers their samples (or fixed views) '
                              f'from 0. Turn model.cache_clean_teacher_outputs off for this dataset.')
        return self._file.filled(keys).tolist()

    def _flush(self, wait: bool) -> None:
        """Move rows whose host copy is complete (all of them with ``wait``) into the attached file."""
        if self._file is None or not self._rows:
            return
        ready = [key for key, (_, event) in self._rows.items() if event is None or wait or event.query()]
        if not ready:
            return
        for event in {id(e): e for key in ready if (e := self._rows[key][1]) is not None}.values():
            event.synchronize()
        self._file.write(ready, torch.stack([self._rows.pop(key)[0] for key in ready]))
