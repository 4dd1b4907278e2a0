"""The teacher-output cache file is checked, not trusted: short, damaged and non-finite files are
refused with what to run; a full disk fails when the file is made, not mid-fill."""
import errno
import os

import numpy as np
import pytest
import torch

from mmtard.errors import CheckpointError
from mmtard.models.shared_rows import SharedRows, file_bytes

IDENTITY = {'teacher': 'clean', 'weights_sha256': 'abc'}


def filled(path, rows=8, dim=4):
    cache = SharedRows.open(path, IDENTITY, rows=rows, dim=dim)
    cache.write(list(range(rows)), torch.nn.functional.normalize(torch.randn(rows, dim), dim=1))
    cache.flush()
    return cache


def test_a_complete_file_reads_back_what_was_written(tmp_path):
    cache = filled(tmp_path / 'clean.rows')
    again = SharedRows.open(tmp_path / 'clean.rows', IDENTITY, rows=8, dim=4)
    assert again.filled_count() == 8 and torch.equal(again.read([3, 5]), cache.read([3, 5]))
    assert (tmp_path / 'clean.rows').stat().st_size == file_bytes(8, 4)


def test_a_file_cut_short_is_refused_not_padded_with_zeros(tmp_path):
    path = tmp_path / 'clean.rows'
    filled(path)
    size = path.stat().st_size
    with open(path, 'r+b') as f:
        f.truncate(size // 2 + 17)
    with pytest.raises(CheckpointError, match='cut short .* Delete it .*mmtard cache-teacher'):
        SharedRows.open(path, IDENTITY, rows=8, dim=4)
    assert path.stat().st_size == size // 2 + 17, 'the file is left as it was, not re-extended'


@pytest.mark.parametrize('value', [float('nan'), float('inf'), 0.0])
def test_non_finite_or_zero_rows_are_refused_when_read(tmp_path, value):
    path = tmp_path / 'clean.rows'
    filled(path)
    rows = np.memmap(path, dtype=np.float32, mode='r+', offset=file_bytes(8, 4) - 4 * 8 * 4, shape=(8, 4))
    rows[2] = value
    rows.flush()
    cache = SharedRows.open(path, IDENTITY, rows=8, dim=4)
    assert cache.read([0, 1]).shape == (2, 4)
    with pytest.raises(CheckpointError, match='1 damaged row.*sample 2.*Delete it'):
        cache.read([1, 2])


def test_a_full_disk_fails_when_the_file_is_made(tmp_path, monkeypatch):
    def no_space(fd, offset, length):
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(os, 'posix_fallocate', no_space, raising=False)
    with pytest.raises(CheckpointError, match='Not enough disk space .* GB'):
        SharedRows.open(tmp_path / 'clean.rows', IDENTITY, rows=8, dim=4)
    assert list(tmp_path.iterdir()) == [], 'no half-made file is left behind'
