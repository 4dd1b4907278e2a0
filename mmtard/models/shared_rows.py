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

The file is checked, not trusted: its disk space is reserved when it is created (a full disk is an
error then, not a crash mid-fill), a file whose length is not what its header implies (cut short by a
full disk or an interrupted copy) is refused rather than re-extended with zeros, and every row read
must be finite and non-zero (a teacher's output never is zero).
"""
from __future__ import annotations

import errno
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


def file_bytes(rows: int, dim: int) -> int:
    """The length of a file of ``rows`` x ``dim`` rows."""
    return _rows_offset(rows) + 4 * rows * dim


class SharedRows:
    """``rows`` x ``dim`` float32 rows in the file ``path``, with what they were computed from."""

    def __init__(self, path: Path, header: Dict[str, Any]) -> None:
        self.path, self.identity = path, header['identity']
        self.rows, self.dim = int(header['rows']), int(header['dim'])
        size, expected = path.stat().st_size, file_bytes(self.rows, self.dim)
        if size != expected:  # np.memmap would silently extend a short file with zero rows
            raise CheckpointError(
                f'The teacher-output cache {str(path)!r} is {size:,} bytes, but its header describes {self.rows:,} '
                f'rows of {self.dim} floats ({expected:,} bytes): it was cut short (a full disk, an interrupted '
                f'copy) or changed. Delete it (training computes the outputs again) or run `mmtard cache-teacher` '
                f'again.')
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
        size = file_bytes(header['rows'], header['dim'])
        with open(tmp, 'wb') as f:
            f.write(text.ljust(HEADER_BYTES, b' '))
            f.truncate(size)  # zeros
            try:
                if hasattr(os, 'posix_fallocate'):
                    os.posix_fallocate(f.fileno(), 0, size)  # reserve the space: a full disk fails here, not mid-fill
            except OSError as error:
                f.close()
                tmp.unlink()
                if error.errno == errno.ENOSPC:
                    raise CheckpointError(
                        f'Not enough disk space for the teacher-output cache {str(path)!r}: it needs {size / 1e9:.2f} '
                        f'GB. Free space there, or give a --work-dir on a larger disk (or set '
                        f'model.cache_clean_teacher_outputs=False to compute the teacher every step).') from None
                if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                    raise
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
        """(len(keys), dim) float32 copies of the rows; a row that is not finite or is all zeros (damaged:
        no teacher output is) is refused, naming the file."""
        rows = self._data[np.asarray(keys, dtype=np.int64)]
        bad = ~np.isfinite(rows).all(axis=1) | ~rows.any(axis=1)
        if bad.any():
            raise CheckpointError(
                f'The teacher-output cache {str(self.path)!r} holds {int(bad.sum())} damaged row(s) (not finite, or '
                f'all zeros) among those just read (e.g. sample {int(np.asarray(keys)[bad][0])}); the file was changed '
                f'or written by a failing teacher. Delete it (training computes the outputs again) or run `mmtard '
                f'cache-teacher` again.')
        return torch.from_numpy(rows)

    def flush(self) -> None:
        """Write the rows and marks to disk (before the file is renamed into place)."""
        self._data.flush()
        self._filled.flush()

    def write(self, keys: Sequence[int], values: Tensor) -> None:
        """Store rows (on the host), then mark them filled."""
        index = np.asarray(keys, dtype=np.int64)
        self._data[index] = values.detach().float().cpu().numpy()
        self._filled[index] = 1
