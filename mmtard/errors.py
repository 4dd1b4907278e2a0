"""User-facing errors: each carries one paragraph that says what was wrong and how to fix it.

The CLI prints these without a traceback; anything else reaching the CLI is a bug.
"""
from __future__ import annotations

import difflib
from typing import Iterable


class MMTardError(Exception):
    """Base class of every error mmtard raises on purpose for bad input."""


class UnknownComponentError(MMTardError, KeyError):
    """A config or command named a component or registry that does not exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ''


class ComponentNameClash(MMTardError):
    """Two owners tried to register the same name in one registry."""


class PluginLoadError(MMTardError):
    """A third-party plugin distribution failed to import or to register."""


class ConfigError(MMTardError):
    """A config value is missing, has the wrong type or is out of range."""


class CheckpointError(MMTardError):
    """A checkpoint file is missing, unreadable, or does not fit the model."""


class DatasetNotFoundError(MMTardError):
    """A dataset is not on disk where the config says it is."""


class DatasetReadError(MMTardError):
    """A dataset file is where the config says but cannot be read (corrupt or not what it claims)."""


class RunDirectoryExistsError(MMTardError):
    """A run would overwrite an earlier run's results."""


class TrainingStopped(MMTardError):
    """Training stopped before its end (interrupted, or the disk filled); the message says how to go on."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def did_you_mean(name: str, candidates: Iterable[str], n: int = 3) -> str:
    """' Did you mean 'a', 'b'?' for the closest candidates, or '' when nothing is close."""
    candidates = sorted(set(candidates))
    close = [c for c in candidates if c.lower() == str(name).lower()]  # 'Adamw' is 'AdamW', not 'Adam'
    close = close or difflib.get_close_matches(str(name), candidates, n=n, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in candidates}
        close = [lowered[c] for c in difflib.get_close_matches(str(name).lower(), list(lowered), n=n, cutoff=0.6)]
    if not close and len(str(name)) >= 3:  # a shortened name: 'Fixed' for 'FixedWeighting'
        close = [c for c in candidates if str(name).lower() in c.lower()][:n]
    if not close:
        return ''
    return ' Did you mean ' + ', '.join(repr(c) for c in close) + '?'


def error_detail(err: BaseException, limit: int = 400) -> str:
    """``Type: message`` of an exception from a library, on one line and at most ``limit`` characters,
    for quoting inside a one-paragraph error."""
    message = ' '.join(str(err).split()).rstrip('.') or 'no message'
    if len(message) > limit:
        message = message[:limit] + ' ...'
    return f'{type(err).__name__}: {message}'
