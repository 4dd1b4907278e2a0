import pytest

from mmtard.errors import ComponentNameClash, ConfigError, UnknownComponentError
from mmtard.registry import PUBLIC_REGISTRIES, WEIGHTINGS, registering_as
from mmtard.weighting import FixedWeighting, Weighting


def test_lookup_returns_registered_class():
    assert WEIGHTINGS.get('FixedWeighting') is FixedWeighting
    assert WEIGHTINGS.owner('FixedWeighting') == 'mmtard'


def test_unknown_name_suggests_closest():
    with pytest.raises(UnknownComponentError) as err:
        WEIGHTINGS.get('FixedWeigting')
    assert "Did you mean 'FixedWeighting'" in str(err.value)
    assert 'mmtard list weightings' in str(err.value)


def test_build_with_misspelt_option_suggests_the_option():
    with pytest.raises(ConfigError) as err:
        WEIGHTINGS.build(dict(type='FixedWeighting', wieghts={'a': 1.0}))
    assert "'wieghts'" in str(err.value) and "Did you mean 'weights'" in str(err.value)


def test_build_without_type_is_a_clear_error():
    with pytest.raises(ConfigError, match="no 'type' key"):
        WEIGHTINGS.build(dict(weights={'a': 1.0}))


def test_duplicate_name_names_both_owners(isolated_registries):
    with registering_as('third-party-dist'):
        with pytest.raises(ComponentNameClash) as err:
            @WEIGHTINGS.register_module(name='FixedWeighting')
            class Impostor(Weighting):
                """Not the real one."""
    message = str(err.value)
    assert "'third-party-dist'" in message and "'mmtard'" in message and 'FixedWeighting' in message
    assert WEIGHTINGS.get('FixedWeighting') is FixedWeighting  # never silently overwritten


def test_force_cannot_overwrite_another_owner(isolated_registries):
    with registering_as('other-dist'), pytest.raises(ComponentNameClash):
        WEIGHTINGS.register_module(name='FixedWeighting', force=True, module=type('X', (Weighting,), {}))


def test_new_component_is_attributed_to_its_distribution(isolated_registries):
    with registering_as('my-dist'):
        @WEIGHTINGS.register_module()
        class MyWeighting(Weighting):
            """Mine."""
    assert WEIGHTINGS.owner('MyWeighting') == 'my-dist'


@pytest.mark.parametrize('short', sorted(PUBLIC_REGISTRIES))
def test_every_public_registry_is_in_the_mmtard_scope(short):
    assert PUBLIC_REGISTRIES[short].scope == 'mmtard'
