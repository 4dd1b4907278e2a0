"""Stable hashes of JSON-able settings: what a stored batch depends on, and the seed of each batch's attack.

Both must give the same value in every process and every later run of the same settings, so they hash
a canonical JSON text (sorted keys, mmengine ConfigDicts and tuples as plain dicts and lists).
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping


def plain_data(value: Any) -> Any:
    """mmengine ConfigDicts / tuples -> plain dicts and lists (JSON-able, safely mutable)."""
    if isinstance(value, Mapping):
        return {str(k): plain_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_data(v) for v in value]
    return value


def derived_seed(*parts: Any) -> int:
    """A 31-bit seed that depends only on ``parts``: each batch's attack is seeded by (benchmark
    seed, dataset, eps, batch), so a resumed run draws what an uninterrupted one would."""
    digest = hashlib.sha256(json.dumps([str(part) for part in parts]).encode()).digest()
    return int.from_bytes(digest[:4], 'little') & 0x7FFFFFFF


def fingerprint(value: Any) -> str:
    """Short sha256 of a JSON-able value (the settings a partial result depends on)."""
    return hashlib.sha256(json.dumps(plain_data(value), sort_keys=True, default=str).encode()).hexdigest()[:16]
