import pytest

from mmtard.value_checks import (check_choice, check_flag, check_nonnegative_number, check_positive_int,
                                 check_positive_number)
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


@pytest.mark.parametrize('value', [0, -1e-4, float('nan'), float('inf'), '2e-5', True, None])
def test_positive_number_refuses_zero_negatives_nan_inf_strings_and_bools(value):
    with pytest.raises(ConfigError, match=r'^lr=.* must be a finite number > 0\. It scales every update\.$'):
        check_positive_number(value, 'lr', 'It scales every update.')


@pytest.mark.parametrize('value', [-1e-4, float('nan'), float('inf'), float('-inf'), '0.1', False, None])
def test_nonnegative_number_refuses_negatives_nan_inf_strings_and_bools(value):
    with pytest.raises(ConfigError, match=r'^weight_decay=.* must be a finite number >= 0\.$'):
        check_nonnegative_number(value, 'weight_decay')


def test_valid_numbers_come_back_as_floats_zero_where_it_is_allowed():
    assert check_nonnegative_number(0, 'weight_decay') == 0.0 and isinstance(check_positive_number(1, 'lr'), float)
