"""Output folders: a path that can be one, one writer per work dir (or evaluation folder), and which
of its checkpoints a stopped run continues from (the newest complete one, named with its command).

Two runs writing into one work dir overwrite (and, through ``max_keep_ckpts``, delete) each other's
checkpoints; two evaluations into one folder compute every batch twice. The lock is an OS advisory lock (``flock``) on ``<work_dir>/.mmtard-train.lock``: the
kernel drops it when its process dies, even by ``kill -9``, so a lock file left behind by a dead run
is recognised as stale and taken over, never trusted; the file's content says who holds it.
"""
from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import re
import shlex
import socket
import sys
import zipfile
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional

from .atomic_files import writer_alive
from .errors import ConfigError, MMTardError

LOCK_FILE = '.mmtard-train.lock'


def default_work_dir(config_path: os.PathLike | str) -> Path:
    """``work_dirs/<config name>``, mmengine's convention."""
    return Path('work_dirs') / Path(config_path).stem


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


#: Why a second writer is refused, and what to do instead, per kind of lock.
TRAINING_LOCK = ("The work dir {folder!r} is in use by another training run ({holder}). Two runs in one work dir "
                 "would overwrite each other's checkpoints (and a teacher cache written under a running training "
                 "would not be read by it). Wait for it to finish (or stop it), or use another --work-dir.")
EVALUATION_LOCK = ("The evaluation folder {folder!r} is in use by another evaluation ({holder}). Two evaluations "
                   "into one --out would compute the same batches twice and overwrite each other's results. Wait "
                   "for it to finish (or stop it), or give another --out.")
EVALUATION_LOCK_FILE = '.mmtard-eval.lock'


def _open_locked(path: Path, notify: Callable[[str], None], refusal: str = TRAINING_LOCK):
    """Open ``path`` and take its exclusive lock, or raise naming the holder."""
    while True:
        handle = open(path, 'a+', encoding='utf-8')
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_holder(handle)
            handle.close()
            raise WorkDirInUseError(refusal.format(folder=str(path.parent), holder=_holder_text(holder))) from None
        try:  # the holder may have removed the file between our open and our lock: lock the current one
            same_file = os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same_file = False
        if same_file:
            break
        handle.close()
    previous = _read_holder(handle)
    if previous:
        notify(f"note: taking over {str(path.parent)!r}'s stale lock: the run that held it "
               f"({_holder_text(previous)}) is no longer running.")
    return handle


@contextlib.contextmanager
def work_dir_lock(work_dir: os.PathLike | str, notify: Optional[Callable[[str], None]] = None,
                  lock_file: str = LOCK_FILE, refusal: str = TRAINING_LOCK) -> Iterator[None]:
    """Hold ``work_dir``'s training lock (or, with ``lock_file`` and ``refusal``, another writer's lock,
    such as an evaluation folder's) for the duration of the block (creating the folder)."""
    notify = notify or (lambda message: print(message, file=sys.stderr))
    work_dir = Path(work_dir)
    created = not work_dir.exists()
    work_dir.mkdir(parents=True, exist_ok=True)
    path = work_dir / lock_file
    handle = _open_locked(path, notify, refusal)
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


def is_complete_checkpoint(path: Path, verify_data: bool = True) -> bool:
    """torch saves zip archives: a truncated or half-written one fails the archive's checksums. Without
    ``verify_data`` only the archive's directory, written last, is read: it catches a file cut short
    (a kill, a full disk) at once, where the checksums read the whole file (about 3 s per 200 MB on
    a busy machine)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None if verify_data else bool(archive.namelist())
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


def newest_complete_checkpoint(work_dir: os.PathLike | str, exclude: Iterable[os.PathLike | str] = (),
                               accept: Optional[Callable[[Path], bool]] = None,
                               verify_data: bool = True) -> Optional[Path]:
    """The most recently written checkpoint in ``work_dir`` that is complete (and passes ``accept``),
    apart from ``exclude``."""
    excluded = {Path(p).resolve() for p in exclude}
    candidates = sorted((p for p in Path(work_dir).glob('*.pth') if p.resolve() not in excluded),
                        key=lambda p: p.stat().st_mtime_ns, reverse=True)
    return next((p for p in candidates if is_complete_checkpoint(p, verify_data) and (accept is None or accept(p))),
                None)


def has_complete_checkpoints(work_dir: os.PathLike | str) -> bool:
    """Whether ``work_dir`` holds a checkpoint a run could continue from; a file cut short by a kill
    or a full disk does not count (it holds nothing to continue from)."""
    return Path(work_dir).is_dir() and newest_complete_checkpoint(work_dir, verify_data=False) is not None


def discard_partial_checkpoints(work_dir: os.PathLike | str) -> list:
    """Delete what a killed save left behind: incomplete checkpoints newer than the newest complete one
    and hidden temporaries (``.iter_N.pth.<pid>.tmp``) of processes that no longer run, and a
    ``last_checkpoint`` pointing at nothing. Call it holding the work dir's lock; returns the paths."""
    work_dir = Path(work_dir)
    if not work_dir.is_dir():
        return []
    removed = remove_incomplete_checkpoints(work_dir, verify_data=False)  # runs at every start: directory only
    for tmp in work_dir.glob('.*.pth.*.tmp'):
        pid = tmp.name.rsplit('.', 2)[-2]
        if not (pid.isdigit() and writer_alive(int(pid))):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    pointer = work_dir / 'last_checkpoint'
    if pointer.is_file():
        named = Path(pointer.read_text().strip())
        if not (work_dir / named.name).is_file() and not named.is_file():
            pointer.unlink()
            removed.append(pointer)
    return removed


def resume_checkpoint(work_dir: os.PathLike | str) -> Optional[Path]:
    """What ``--resume`` alone continues from: :func:`latest_checkpoint` when it is complete, else the
    newest complete one (a save cut short leaves the latest unusable)."""
    latest = latest_checkpoint(work_dir)
    if latest is not None and is_complete_checkpoint(latest, verify_data=False):
        return latest
    return newest_complete_checkpoint(work_dir, verify_data=False)


_NUMBERED_CHECKPOINT = re.compile(r'^(iter|epoch)_(\d+)\.pth$')


def later_checkpoints(work_dir: os.PathLike | str, checkpoint: os.PathLike | str) -> List[Path]:
    """The complete checkpoints in ``work_dir`` of later iterations (or epochs) than ``checkpoint``'s
    (``iter_N.pth``): a run resumed from it saves those names again, overwriting them."""
    found = _NUMBERED_CHECKPOINT.match(Path(checkpoint).name)
    if found is None or not Path(work_dir).is_dir():
        return []
    kind, iteration = found.group(1), int(found.group(2))
    later = [(int(match.group(2)), path) for path in Path(work_dir).glob(f'{kind}_*.pth')
             if (match := _NUMBERED_CHECKPOINT.match(path.name)) and int(match.group(2)) > iteration
             and is_complete_checkpoint(path, verify_data=False)]
    return [path for _, path in sorted(later)]


def remove_incomplete_checkpoints(work_dir: os.PathLike | str, verify_data: bool = True) -> list:
    """Delete the checkpoints written after the newest complete one that are themselves incomplete
    (a save cut short by a full disk); returns their paths."""
    newest = newest_complete_checkpoint(work_dir, verify_data=verify_data)
    after = newest.stat().st_mtime_ns if newest is not None else -1
    removed = [p for p in Path(work_dir).glob('*.pth')
               if p.stat().st_mtime_ns > after and not is_complete_checkpoint(p, verify_data)]
    for path in removed:
        path.unlink()
    return removed


def option_arguments(cfg_options: Optional[Mapping[str, Any]]) -> str:
    """``-o KEY=VALUE`` for each option, quoted for a POSIX shell, as the run was started with them."""
    def text(value: Any) -> str:
        return value if isinstance(value, str) else repr(value)

    return ' '.join(f'-o {shlex.quote(f"{key}={text(value)}")}' for key, value in (cfg_options or {}).items())


def resume_advice(work_dir: os.PathLike | str, config: Optional[str], exclude: Iterable[os.PathLike | str] = (),
                  cfg_options: Optional[Mapping[str, Any]] = None, extra: str = '',
                  accept: Optional[Callable[[Path], bool]] = None, kind: str = 'complete') -> str:
    """One sentence naming the checkpoint to continue from and the command that does it: the run's own
    ``cfg_options`` repeated (a run started with -o train_cfg.max_iters=8 continues to 8, not to the
    config's schedule), then ``extra`` arguments. ``accept`` filters the checkpoints (``kind`` names
    what it accepts); without one that passes, the command starts the run afresh."""
    checkpoint = newest_complete_checkpoint(work_dir, exclude, accept)
    later = later_checkpoints(work_dir, checkpoint) if checkpoint is not None else []
    overwrite = '--overwrite' if later else ''
    options = ' '.join(part for part in (overwrite, option_arguments(cfg_options), extra) if part)
    tail = f' {options}' if options else ''
    start = f"mmtard train {shlex.quote(str(config)) if config else 'CONFIG'} --work-dir {shlex.quote(str(work_dir))}"
    if checkpoint is None:
        return (f'No {kind} checkpoint is left in {str(work_dir)!r}; start the run again with: {start} '
                f'--overwrite{tail}')
    replaced = (f" (--overwrite: the run saves the later {', '.join(p.name for p in later)} again, replacing "
                f"them)" if later else '')
    return (f'The newest {kind} checkpoint is {str(checkpoint)!r}; continue from it with: {start} --resume '
            f'{shlex.quote(str(checkpoint))}{tail}{replaced}')
