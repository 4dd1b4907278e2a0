"""Output folders: a path that can be one, one training run per work dir, and which of its
checkpoints a stopped run continues from (the newest complete one, named with its command).

Two runs writing into one work dir overwrite (and, through ``max_keep_ckpts``, delete) each other's
checkpoints. The lock is an OS advisory lock (``flock``) on ``<work_dir>/.mmtard-train.lock``: the
kernel drops it when its process dies, even by ``kill -9``, so a lock file left behind by a dead run
is recognised as stale and taken over, never trusted; the file's content says who holds it.
"""
from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import socket
import sys
import zipfile
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, Optional

from .errors import ConfigError, MMTardError

LOCK_FILE = '.mmtard-train.lock'


def check_output_dir(path: os.PathLike | str, what: str) -> None:
    """Refuse a folder path that cannot be created (empty, an existing file, or under one) before any
    work starts, instead of an OSError after it."""
    text = str(path)
    if not text.strip():
        raise ConfigError(f"The {what} is an empty string; give a folder path (e.g. work_dirs/my_run), or leave "
                          f"the option out for the default.")
    for folder in (Path(text), *Path(text).parents):
        if folder.exists() and not folder.is_dir():
            where = 'is' if folder == Path(text) else f'would be inside {str(folder)!r}, which is'
            raise ConfigError(f"The {what} {text!r} {where} a file, not a folder. Give another path.")
        if folder.exists():
            break


class WorkDirInUseError(MMTardError):
    """Another live process is training into the same work dir."""


def _holder_text(holder: Dict[str, object]) -> str:
    return (f"process {holder.get('pid', '?')} on host {holder.get('host', '?')!r}, started "
            f"{holder.get('started', '?')}")


def _read_holder(handle) -> Dict[str, object]:
    handle.seek(0)
    try:
        content = json.loads(handle.read() or '{}')
    except ValueError:
        return {}
    return content if isinstance(content, dict) else {}


def _open_locked(path: Path, notify: Callable[[str], None]):
    """Open ``path`` and take its exclusive lock, or raise naming the holder."""
    while True:
        handle = open(path, 'a+', encoding='utf-8')
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_holder(handle)
            handle.close()
            raise WorkDirInUseError(
                f"The work dir {str(path.parent)!r} is in use by another training run ({_holder_text(holder)}). "
                f"Two runs in one work dir would overwrite each other's checkpoints. Wait for it to finish "
                f"(or stop it), or train into another --work-dir.") from None
        try:  # the holder may have removed the file between our open and our lock: lock the current one
            same_file = os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same_file = False
        if same_file:
            break
        handle.close()
    previous = _read_holder(handle)
    if previous:
        notify(f"note: taking over the work dir's stale lock: the run that held it ({_holder_text(previous)}) "
               f"is no longer running.")
    return handle


@contextlib.contextmanager
def work_dir_lock(work_dir: os.PathLike | str, notify: Optional[Callable[[str], None]] = None) -> Iterator[None]:
    """Hold ``work_dir``'s training lock for the duration of the block (creating the folder)."""
    notify = notify or (lambda message: print(message, file=sys.stderr))
    work_dir = Path(work_dir)
    created = not work_dir.exists()
    work_dir.mkdir(parents=True, exist_ok=True)
    path = work_dir / LOCK_FILE
    handle = _open_locked(path, notify)
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({'pid': os.getpid(), 'host': socket.gethostname(),
                                 'started': datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
                                 'command': ' '.join(sys.argv)}) + '\n')
        handle.flush()
        yield
    finally:
        path.unlink(missing_ok=True)  # before unlocking: a waiting run then locks a fresh file
        handle.close()
        if created and not any(work_dir.iterdir()):
            work_dir.rmdir()


def is_complete_checkpoint(path: Path) -> bool:
    """torch saves zip archives: a truncated or half-written one fails the archive's checksums."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (OSError, zipfile.BadZipFile):
        return False


def latest_checkpoint(work_dir: os.PathLike | str) -> Optional[Path]:
    """The checkpoint mmengine's ``last_checkpoint`` file names, found in ``work_dir`` itself when the
    file names another folder (mmengine writes absolute paths: a copied or moved work dir would
    otherwise resume from the original's checkpoint); else the newest ``*.pth``."""
    work_dir = Path(work_dir)
    pointer = work_dir / 'last_checkpoint'
    if pointer.is_file():
        named = Path(pointer.read_text().strip())
        local = work_dir / named.name
        if local.is_file():
            return local
        if named.is_file():
            return named
    candidates = sorted(work_dir.glob('*.pth'), key=lambda p: p.stat().st_mtime_ns)
    return candidates[-1] if candidates else None


def newest_complete_checkpoint(work_dir: os.PathLike | str, exclude: Iterable[os.PathLike | str] = ()) -> Optional[Path]:
    """The most recently written checkpoint in ``work_dir`` that is complete, apart from ``exclude``."""
    excluded = {Path(p).resolve() for p in exclude}
    candidates = sorted((p for p in Path(work_dir).glob('*.pth') if p.resolve() not in excluded),
                        key=lambda p: p.stat().st_mtime_ns, reverse=True)
    return next((p for p in candidates if is_complete_checkpoint(p)), None)


def remove_incomplete_checkpoints(work_dir: os.PathLike | str) -> list:
    """Delete the checkpoints written after the newest complete one that are themselves incomplete
    (a save cut short by a full disk); returns their paths."""
    newest = newest_complete_checkpoint(work_dir)
    after = newest.stat().st_mtime_ns if newest is not None else -1
    removed = [p for p in Path(work_dir).glob('*.pth') if p.stat().st_mtime_ns > after and not is_complete_checkpoint(p)]
    for path in removed:
        path.unlink()
    return removed


def resume_advice(work_dir: os.PathLike | str, config: Optional[str], exclude: Iterable[os.PathLike | str] = ()) -> str:
    """One sentence naming the checkpoint to continue from and the command that does it."""
    checkpoint = newest_complete_checkpoint(work_dir, exclude)
    if checkpoint is None:
        return f'No complete checkpoint is left in {str(work_dir)!r}; start the run again.'
    command = f"mmtard train {config or 'CONFIG'} --work-dir {work_dir} --resume {checkpoint}"
    return f'The newest complete checkpoint is {str(checkpoint)!r}; continue from it with: {command}'
