"""Checks of config values every component shares (a choice, a count, a flag), each refusing a bad
value with a message that names the option and what it accepts, before anything is built."""
from __future__ import annotations

import math
import os
from typing import Any, Sequence

from .errors import ConfigError, did_you_mean


def check_choice(value: str, choices: Sequence[str], name: str) -> str:
    """Return ``value`` if it is in ``choices``, else raise a ConfigError listing them."""
    if value not in choices:
        raise ConfigError(f'{name}={value!r} is not supported.{did_you_mean(value, choices)} '
                          f'Choose one of: {", ".join(map(repr, choices))}.')
    return value


def check_positive_int(value: int, name: str) -> int:
    """Return ``value`` if it is an int >= 1, else raise a ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f'{name}={value!r} must be a whole number >= 1.')
    return value


def _is_finite_number(value: object) -> bool:
    """An int or float that is neither NaN nor infinite (a bool is not a number here)."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def is_positive_number(value: object) -> bool:
    """A finite int or float > 0 (not a bool): what a logit scale, a learning rate or a radius must be."""
    return _is_finite_number(value) and value > 0


def check_positive_number(value: float, name: str, hint: str = '') -> float:
    """Return ``value`` as a float if it is a finite number > 0 (not a string, not a bool), else raise;
    ``hint``, a sentence, says what the value does where the rule alone would not."""
    if not is_positive_number(value):
        raise ConfigError(f'{name}={value!r} must be a finite number > 0.{" " + hint if hint else ""}')
    return float(value)


def check_nonnegative_number(value: float, name: str, hint: str = '') -> float:
    """Return ``value`` as a float if it is a finite number >= 0 (a weight decay, where 0 is off), else
    raise as :func:`check_positive_number` does."""
    if not _is_finite_number(value) or value < 0:
        raise ConfigError(f'{name}={value!r} must be a finite number >= 0.{" " + hint if hint else ""}')
    return float(value)


def type_name(value: Any) -> str:
    """'an int', 'a dict': the type of a refused value, as a sentence names it."""
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def check_path(value: Any, name: str, optional: bool = False) -> Any:
    """Return ``value`` if it is a path (str or os.PathLike; or None when ``optional``), else raise naming it."""
    if value is None and optional:
        return value
    if isinstance(value, bool) or not isinstance(value, (str, os.PathLike)):
        raise ConfigError(f'{name}={value!r} must be a path (a str or pathlib.Path), not {type_name(value)}.')
    return value


def check_text(value: Any, name: str, optional: bool = False) -> Any:
    """Return ``value`` if it is a non-empty string (or None when ``optional``), else raise naming it."""
    if value is None and optional:
        return value
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f'{name}={value!r} must be a non-empty string.')
    return value


def check_flag(value: bool, name: str) -> bool:
    """Return ``value`` if it is True or False (a config string such as 'maybe' is not)."""
    if not isinstance(value, bool):
        raise ConfigError(f'{name}={value!r} must be True or False.')
    return value
