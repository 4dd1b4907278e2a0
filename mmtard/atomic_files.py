"""Output files written whole or not at all, readable like any download, and failures that say why.

A file is written to a hidden temporary name beside its target, flushed to disk (``fsync``), given
the permissions a plain ``open()`` would (0644 under the usual umask 022; a temporary folder would
be 0700) and renamed over the target, which is atomic on one file system: a kill or a full disk
leaves the previous state, never half a file. The temporary is removed on any failure, and an
``OSError`` becomes one sentence naming the file and the cause (disk full, folder read-only).
"""
from __future__ import annotations

import contextlib
import errno
import glob
import io
import os
import shutil
from pathlib import Path
from typing import Any, Iterator, List, Union

from .errors import MMTardError, error_detail

PathLike = Union[str, os.PathLike]


class OutputWriteError(MMTardError):
    """An output file could not be written (disk full, read-only folder); nothing half-written is left."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def published_mode(folder: bool = False) -> int:
    """The mode ``open()`` / ``mkdir()`` would give: 0644 / 0755 under umask 022."""
    return (0o777 if folder else 0o666) & ~_umask()


def remove_quietly(path: Path) -> None:
    """Remove a temporary file or folder, never raising (a read-only folder must not hide the first error)."""
    with contextlib.suppress(OSError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def temporary_name(path: PathLike) -> Path:
    path = Path(path)
    return path.with_name(f'.{path.name}.{os.getpid()}.tmp')


def writer_alive(pid: int) -> bool:
    """Whether process ``pid``, which named a temporary, may still be writing it (this process is not:
    its temporaries from an earlier, failed write are garbage)."""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(path: PathLike) -> List[Path]:
    """Remove the temporaries of ``path`` (:func:`temporary_name`) that processes killed mid-write left
    (they hold hundreds of MB of a half-written export); returns them."""
    path = Path(path)
    removed = []
    for tmp in path.parent.glob(f'.{glob.escape(path.name)}.*.tmp'):
        pid = tmp.name[len(path.name) + 2:-len('.tmp')]
        if pid.isdigit() and not writer_alive(int(pid)):
            remove_quietly(tmp)
            removed.append(tmp)
    return removed


def write_bytes_atomic(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a fsynced temporary renamed over it. An ``OSError`` is
    re-raised unchanged after the temporary is removed (callers that add advice catch it)."""
    path = Path(path)
    tmp = temporary_name(path)
    try:
        with open(tmp, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, published_mode())
        os.replace(tmp, path)
    except BaseException:
        remove_quietly(tmp)
        raise
    with contextlib.suppress(OSError):  # the rename itself reaches the disk with the folder's entry
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def torch_bytes(obj: Any) -> bytes:
    """``torch.save`` into memory: a failing write then surfaces as the OSError of :func:`write_bytes_atomic`
    rather than torch's "enforce fail ... unexpected pos"."""
    import torch

    with io.BytesIO() as buffer:
        torch.save(obj, buffer)
        return buffer.getvalue()


def write_error(err: OSError, path: PathLike, what: str) -> OutputWriteError:
    """A one-paragraph error for an ``OSError`` met while writing ``what`` to ``path``."""
    folder = str(Path(path).parent)
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        cause = f'the disk holding {folder!r} is full (or over quota). Free space there, or write elsewhere'
    elif err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        cause = f'the folder {folder!r} is not writable. Choose a writable folder, or fix its permissions'
    else:
        cause = f'{error_detail(err)}. Check the folder {folder!r}'
    return OutputWriteError(f'Could not write {what} {str(path)!r}: {cause}. Nothing half-written was left.')


def check_writable_folder(folder: PathLike, what: str) -> None:
    """Refuse a folder this process cannot create files in, before any expensive work."""
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputWriteError(f'The {what} {str(folder)!r} is not writable (read-only, or owned by another user). '
                               f'Choose a writable folder, or fix its permissions.')


@contextlib.contextmanager
def atomic_folder(path: PathLike) -> Iterator[Path]:
    """A temporary folder beside ``path`` to fill; renamed to ``path`` (mode as ``mkdir`` gives) when the
    block ends, removed when it fails."""
    path = Path(path)
    staging = temporary_name(path)
    staging.mkdir()
    try:
        yield staging
        os.chmod(staging, published_mode(folder=True))
        os.replace(staging, path)
    except BaseException:
        remove_quietly(staging)
        raise
