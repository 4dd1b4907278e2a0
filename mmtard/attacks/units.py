"""Validation of attack budgets written in 1/255 units, the unit of every mmtard config.

Budgets are the easiest config values to get silently wrong: ``eps=0.0157`` (meant as 4/255) would
run an attack 255 times weaker than intended and report inflated robustness, so such values are
refused with a message that says what to write instead.
"""
from __future__ import annotations

import math

from ..errors import ConfigError, did_you_mean

NORMS = ('Linf', 'L2')

def to_pixels(value: float, name: str = 'eps', allow_sub_unit: bool = False) -> float:
    """Check a budget given in 1/255 units and return it in pixel units (value / 255).

    Refused: non-numbers, negative or non-finite values, values above 255 (more than the whole
    [0,1] range) and, unless ``allow_sub_unit`` (an attack's ``allow_sub_unit_eps=True``), values
    strictly between 0 and 1: less than one grey level, almost always a budget written in pixel
    units (0.0157 for 4/255, 0.03 for 8/255).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f'{name}={value!r} is not a finite number. Attack budgets are numbers in 1/255 '
                          f'units, e.g. {name}=4 for 4/255.')
    if value < 0:
        raise ConfigError(f'{name}={value} is negative. Attack budgets are non-negative numbers in 1/255 '
                          f'units, e.g. {name}=4 for 4/255; use 0 for no attack.')
    if value / 255 > 1:
        raise ConfigError(f'{name}={value} is in 1/255 units, so it means {value / 255:.3g} of the pixel '
                          f'range [0,1], more than the whole range. Write it in 1/255 units, e.g. '
                          f'{name}=4 for 4/255.')
    if 0 < value < 1 and not allow_sub_unit:
        numerator = max(1, round(value * 255))
        raise ConfigError(f'{name}={value} looks like it was written in pixel units ({value * 255:.3g}/255), but '
                          f'mmtard reads {name} in 1/255 units, so it would mean {value}/255, less than one '
                          f'grey level. Write {name}={numerator} for {numerator}/255. If you do mean a radius below '
                          f'one grey level, set allow_sub_unit_eps=True on the attack.')
    return value / 255


def check_norm(norm: str) -> str:
    """Return ``norm`` if it is one of :data:`NORMS`, else raise a ConfigError with close names."""
    if norm not in NORMS:
        raise ConfigError(f'norm={norm!r} is not a supported threat model.{did_you_mean(norm, NORMS)} '
                          f'Supported norms: {", ".join(NORMS)}.')
    return norm
