"""Validation of attack budgets written in 1/255 units, the unit of every mmtard config.

Budgets are the easiest config values to get silently wrong: ``eps=0.0157`` (meant as 4/255) would
run an attack 255 times weaker than intended and report inflated robustness, so such values are
refused with a message that says what to write instead.
"""
from __future__ import annotations

import math

from ..errors import ConfigError, did_you_mean

NORMS = ('Linf', 'L2')

#: Largest pixel-unit budget (n/255) the "written in pixel units" check looks for: common budgets are
#: 1, 2, 4, 8 or 16/255; a larger n would catch legitimate sub-grey-level values such as 0.2.
_MAX_PIXEL_NUMERATOR = 32
#: Relative tolerance of that check: ``0.031`` (a common spelling of 8/255) is 1.2% off 8/255.
_PIXEL_RTOL = 0.015


def to_pixels(value: float, name: str = 'eps') -> float:
    """Check a budget given in 1/255 units and return it in pixel units (value / 255).

    Refused: non-numbers, negative or non-finite values, values above 255 (more than the whole
    [0,1] range) and values below 1 that are within 1.5% of n/255 for a whole n <= 32, which look
    like a pixel-unit budget (0.0157 for 4/255, 0.031 for 8/255).
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
    numerator = round(value * 255)
    if 0 < value < 1 and 1 <= numerator <= _MAX_PIXEL_NUMERATOR and \
            abs(value * 255 - numerator) <= max(1e-3, _PIXEL_RTOL * numerator):
        raise ConfigError(f'{name}={value} looks like it was written in pixel units ({numerator}/255), but '
                          f'mmtard reads {name} in 1/255 units, so it would mean {value}/255, less than one '
                          f'grey level. Write {name}={numerator} for {numerator}/255.')
    return value / 255


def check_norm(norm: str) -> str:
    """Return ``norm`` if it is one of :data:`NORMS`, else raise a ConfigError with close names."""
    if norm not in NORMS:
        raise ConfigError(f'norm={norm!r} is not a supported threat model.{did_you_mean(norm, NORMS)} '
                          f'Supported norms: {", ".join(NORMS)}.')
    return norm
