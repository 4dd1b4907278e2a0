import pytest

from mmtard.value_checks import check_choice, check_flag, check_positive_int
from mmtard.errors import ConfigError


def test_a_valid_value_is_returned_unchanged():
    assert check_choice('ce', ('ce', 'dlr'), 'loss') == 'ce'
    assert check_positive_int(3, 'steps') == 3
    assert check_flag(False, 'random_start') is False


def test_a_near_miss_choice_names_the_option_the_closest_name_and_all_choices():
    with pytest.raises(ConfigError) as err:
        check_choice('dl', ('ce', 'dlr'), 'loss')
    assert str(err.value) == "loss='dl' is not supported. Did you mean 'dlr'? Choose one of: 'ce', 'dlr'."


@pytest.mark.parametrize('value', [0, -2, 2.0, True, '3', None])
def test_positive_int_refuses_zero_negatives_floats_bools_and_strings(value):
    with pytest.raises(ConfigError, match=r'^steps=.* must be a whole number >= 1\.$'):
        check_positive_int(value, 'steps')


@pytest.mark.parametrize('value', ['maybe', 'False', 0, 1, None])
def test_flag_takes_only_true_or_false(value):
    with pytest.raises(ConfigError, match='must be True or False'):
        check_flag(value, 'random_start')
