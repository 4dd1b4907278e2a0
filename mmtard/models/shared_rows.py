"""A file of fixed-size float32 rows, memory-mapped and shared by every process of a machine.

The clean-teacher cache lives here so that N training processes (DDP) hold one copy of it, in the
page cache, instead of N copies in their own memory (3.9 GB per view of ImageNet-1k for a ViT-L-14
teacher), and so that a row one process computed is read by all the others.

Layout: a JSON header (what the rows were computed from, their count and width) padded to
:data:`HEADER_BYTES`, one "filled" byte per row, then the rows. Concurrent writers are safe: the
file is created complete (zeros) under a temporary name and linked into place, so every process
maps the same file; a row's bytes are written before its filled byte, and a process only reads
rows whose filled byte it sees, written by a step that an earlier gradient all-reduce ordered
before its own. Two processes writing the same row write the same teacher output.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from ..errors import CheckpointError

HEADER_BYTES = 4096
FORMAT = 'mmtard-shared-rows-1'


def _rows_offset(rows: int) -> int:
    return HEADER_BYTES + -(-rows // HEADER_BYTES) * HEADER_BYTES


class SharedRows:
    """``rows`` x ``dim`` float32 rows in the file ``path``, with what they were computed from."""

    def __init__(self, path: Path, header: Dict[str, Any]) -> None:
        self.path, self.identity = path, header['identity']
        self.rows, self.dim = int(header['rows']), int(header['dim'])
        self._filled = np.memmap(path, dtype=np.uint8, mode='r+', offset=HEADER_BYTES, shape=(self.rows,))
        self._data = np.memmap(path, dtype=np.float32, mode='r+', offset=_rows_offset(self.rows),
                               shape=(self.rows, self.dim))

    @classmethod
    def open(cls, path: Path, identity: Mapping[str, str], rows: int, dim: int,
             replace: bool = False) -> 'SharedRows':
        """The file at ``path``: created empty if absent (or, with ``replace``, always), else refused
        unless it holds rows of this ``identity``, count and width."""
        header = {'format': FORMAT, 'identity': dict(identity), 'rows': int(rows), 'dim': int(dim)}
        path.parent.mkdir(parents=True, exist_ok=True)
        if replace or not path.exists():
            cls._create(path, header, replace)
        written = cls._read_header(path)
        expected = {'sample count': int(rows), 'embedding width': int(dim), **dict(identity)}
        found = {'sample count': written.get('rows'), 'embedding width': written.get('dim'),
                 **written.get('identity', {})}
        differing = sorted(key for key in set(expected) | set(found) if expected.get(key) != found.get(key))
        if differing:
            details = ', '.join(f'{key}: {found.get(key)!r} there, {expected.get(key)!r} here' for key in differing)
            raise CheckpointError(
                f'The teacher-output cache {str(path)!r} was computed for another {" and ".join(differing)} than '
                f'this run uses ({details}). Run `mmtard cache-teacher` again with this config, or delete the file.')
        return cls(path, written)

    @staticmethod
    def _create(path: Path, header: Dict[str, Any], replace: bool) -> None:
        text = json.dumps(header).encode()
        tmp = path.with_name(f'.{path.name}.{os.getpid()}.tmp')
        with open(tmp, 'wb') as f:
            f.write(text.ljust(HEADER_BYTES, b' '))
            f.truncate(_rows_offset(header['rows']) + 4 * header['rows'] * header['dim'])  # zeros, sparse
        if replace:
            os.replace(tmp, path)
            return
        try:
            os.link(tmp, path)  # atomic: of several processes creating it at once, one file wins
        except FileExistsError:
            pass
        finally:
            tmp.unlink()

    @staticmethod
    def _read_header(path: Path) -> Dict[str, Any]:
        with open(path, 'rb') as f:
            raw = f.read(HEADER_BYTES)
        try:
            header = json.loads(raw.decode().strip())
        except (UnicodeDecodeError, json.JSONDecodeError):
            header = {}
        if header.get('format') != FORMAT:
            raise CheckpointError(f'{str(path)!r} is not a teacher-output cache written by this version of mmtard. '
                                  f'Delete it, or run `mmtard cache-teacher` again.')
        return header

    def filled(self, keys: Sequence[int]) -> np.ndarray:
        """(len(keys),) bool: which rows hold a value."""
        return self._filled[np.asarray(keys, dtype=np.int64)] != 0

    def filled_count(self) -> int:
        return int(np.count_nonzero(self._filled))

    def read(self, keys: Sequence[int]) -> Tensor:
        """(len(keys), dim) float32 copies of the rows."""
        return torch.from_numpy(self._data[np.asarray(keys, dtype=np.int64)])

    def write(self, keys: Sequence[int], values: Tensor) -> None:
        """Store rows (on the host), then mark them filled."""
        index = np.asarray(keys, dtype=np.int64)
        self._data[index] = values.detach().float().cpu().numpy()
        self._filled[index] = 1
