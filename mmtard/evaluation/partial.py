"""Per-batch partial results on disk, so a killed evaluation resumes where it stopped.

A robust evaluation of one model can take days; losing it to a pre-empted job is the common case,
not the exception. Every finished batch is appended (and flushed) as one JSON line keyed by what
determined it, so a restart reuses exactly the batches already attacked. Lines written for other
weights are never mixed in: the file belongs to one model. Under torchrun each process appends to
its own file (:func:`partial_file`) and reads every process's, so a run resumes with any number of
processes.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from ..errors import RunDirectoryExistsError

PARTIAL_FILE = 'partial.jsonl'
#: Every process's partial file in an out folder (rank 0 and a lone process write PARTIAL_FILE).
PARTIAL_GLOB = 'partial*.jsonl'


def partial_file(rank: int) -> str:
    """The partial file process ``rank`` appends to."""
    return PARTIAL_FILE if rank == 0 else f'partial.rank{rank}.jsonl'


def partial_files(out_dir: Path) -> List[Path]:
    return sorted(Path(out_dir).glob(PARTIAL_GLOB))


def _key(key: Dict[str, Any]) -> str:
    return json.dumps(key, sort_keys=True)


class PartialResults:
    """Append-only JSONL store of ``{'key': {...}, 'value': {...}}`` lines for one model checksum.

    A line cut short by a kill (the last one) is ignored: its batch simply runs again. ``also_read``:
    other processes' files, whose batches are reused but never written to.
    """

    def __init__(self, path: Path, model_checksum: str, also_read: Sequence[Path] = ()) -> None:
        self.path = Path(path)
        self.model_checksum = model_checksum
        self._done: Dict[str, Dict[str, Any]] = {}
        for other in also_read:
            if Path(other) != self.path:
                self._load(Path(other), own=False)
        if self.path.is_file():
            self._load(self.path, own=True)

    def _load(self, path: Path, own: bool) -> None:
        data = path.read_bytes()
        complete = data[:data.rfind(b'\n') + 1]
        if own and len(complete) < len(data):  # drop the line a kill cut short, so appends start on a new line
            with open(path, 'r+b') as f:
                f.truncate(len(complete))
        for line in complete.decode('utf-8').splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not (isinstance(row, dict) and isinstance(row.get('key'), dict) and isinstance(row.get('value'), dict)):
                continue  # not a line this file's writer makes (edited by hand): the batch is evaluated again
            checksum = row['key'].get('model_checksum')
            if checksum != self.model_checksum:
                raise RunDirectoryExistsError(
                    f'{path} holds partial results of a different model (weights checksum '
                    f'{str(checksum)[:12]}..., now {self.model_checksum[:12]}...): the checkpoint changed '
                    f'since that evaluation started, and its numbers must not be mixed with this one\'s. '
                    f'Pass --overwrite to discard them, or --out to evaluate into another folder.')
            self._done[_key(row['key'])] = row['value']

    def __len__(self) -> int:
        return len(self._done)

    def get(self, key: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        return self._done.get(_key({**key, 'model_checksum': self.model_checksum}))

    def put(self, key: Dict[str, Any], value: Dict[str, Any]) -> None:
        key = {**key, 'model_checksum': self.model_checksum}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, 'a', encoding='utf-8') as f:
            f.write(json.dumps({'key': key, 'value': value}) + '\n')
            f.flush()
            os.fsync(f.fileno())
        self._done[_key(key)] = value
