"""eps validation: every attack refuses budgets that are surely a mistake, with a fix in the message."""
import pytest

from mmtard.attacks import to_pixels
from mmtard.errors import ConfigError
from mmtard.registry import ATTACKS


@pytest.mark.parametrize('value, expected', [(0, 0.0), (4, 4 / 255), (1, 1 / 255), (255, 1.0), (1.5, 1.5 / 255)])
def test_valid_budgets(value, expected):
    assert to_pixels(value) == pytest.approx(expected)


@pytest.mark.parametrize('value', [0.5, 0.2, 0.03, 0.001])
def test_budgets_below_one_grey_level_need_the_explicit_flag(value):
    with pytest.raises(ConfigError, match='allow_sub_unit_eps=True'):
        to_pixels(value)
    assert to_pixels(value, allow_sub_unit=True) == pytest.approx(value / 255)


@pytest.mark.parametrize('value, message', [
    (-1, 'negative'),
    (256, 'more than the whole range'),
    (0.0157, 'Write eps=4 for 4/255'),
    (4 / 255, 'Write eps=4 for 4/255'),
    (0.031, 'Write eps=8 for 8/255'),
    (0.0039, 'Write eps=1 for 1/255'),
    (0.03, 'Write eps=8 for 8/255'),  # 7.65/255: outside the old 1.5% window around n/255
    (0.0001, 'Write eps=1 for 1/255'),
    (float('nan'), 'not a finite number'),
    ('4', 'not a finite number'),
])
def test_invalid_budgets(value, message):
    with pytest.raises(ConfigError, match=message):
        to_pixels(value)


@pytest.mark.parametrize('name', sorted(ATTACKS.module_dict))
def test_every_attack_validates_eps_and_norm(name):
    cls = ATTACKS.get(name)
    with pytest.raises(ConfigError, match='pixel units'):
        cls(eps=0.0157)
    with pytest.raises(ConfigError, match='negative'):
        cls(eps=-4)
    with pytest.raises(ConfigError, match="Did you mean 'Linf'"):
        cls(eps=4, norm='linf')
    with pytest.raises(ConfigError, match='nan_policy'):
        cls(eps=4, nan_policy='ignore')


def test_registry_build_with_unknown_option_suggests_the_right_one():
    with pytest.raises(ConfigError, match="Did you mean 'steps'"):
        ATTACKS.build(dict(type='PGD', eps=4, stepz=10))
