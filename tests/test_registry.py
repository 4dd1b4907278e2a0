import pytest

from mmtard.errors import ComponentNameClash, ConfigError, UnknownComponentError, did_you_mean, error_detail
from mmtard.component_checks import check_component_options
from mmtard.plugins import registering_as
from mmtard.registry import PUBLIC_REGISTRIES, WEIGHTINGS
from mmtard.weighting import FixedWeighting, Weighting


def test_lookup_returns_registered_class():
    assert WEIGHTINGS.get('FixedWeighting') is FixedWeighting
    assert WEIGHTINGS.owner('FixedWeighting') == 'mmtard'


def test_unknown_name_suggests_closest():
    with pytest.raises(UnknownComponentError) as err:
        WEIGHTINGS.get('FixedWeigting')
    assert "Did you mean 'FixedWeighting'" in str(err.value)
    assert 'mmtard list weightings' in str(err.value)


def test_did_you_mean_prefers_a_case_variant_and_finds_shortened_names():
    assert did_you_mean('Adamw', ['Adam', 'AdamW', 'NAdam', 'RAdam']) == " Did you mean 'AdamW'?"
    assert did_you_mean('Fixed', ['FixedWeighting', 'MTARDWeighting']) == " Did you mean 'FixedWeighting'?"
    assert did_you_mean('zzz', ['FixedWeighting']) == ''


def test_error_detail_is_one_shortened_line():
    assert error_detail(RuntimeError('a\n  b.' + 'x' * 500), limit=10) == 'RuntimeError: a b.xxxxxx ...'
    assert error_detail(EOFError()) == 'EOFError: no message'


def test_unknown_name_outside_mmtard_list_shows_the_valid_names():
    from mmtard.registry import OPTIMIZERS

    with pytest.raises(UnknownComponentError) as err:
        OPTIMIZERS.build(dict(type='Adamw', params=[]))
    assert "Did you mean 'AdamW'?" in str(err.value) and 'SGD' in str(err.value)
    assert 'mmtard list' not in str(err.value)  # it does not list optimizers


def test_build_with_misspelt_option_suggests_the_option():
    with pytest.raises(ConfigError) as err:
        WEIGHTINGS.build(dict(type='FixedWeighting', wieghts={'a': 1.0}))
    assert "'wieghts'" in str(err.value) and "Did you mean 'weights'" in str(err.value)


def test_misspelt_option_deep_in_a_config_is_found_before_building():
    config = dict(model=dict(type='MMTARD', student=dict(type='OpenCLIPEncoder', arch='mmtard-tiny-vit'),
                             teachers=[dict(name='clean', teacher_input='clean',
                                                       encoder=dict(type='OpenCLIPEncoder', arhc='x'))]))
    with pytest.raises(ConfigError) as err:
        check_component_options(config)
    message = str(err.value)
    assert "'model.teachers.0.encoder.arhc'" in message and "Did you mean 'arch'" in message


def test_runner_built_components_are_checked_too():
    with pytest.raises(ConfigError, match=r"IterBasedTrainLoop .*'max_iter'.*Did you mean 'max_iters'"):
        check_component_options(dict(train_cfg=dict(type='IterBasedTrainLoop', max_iter=5)))


def test_option_check_lets_through_builder_keys_and_open_signatures():
    check_component_options(dict(
        optim_wrapper=dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3),
                           paramwise_cfg=dict(norm_decay_mult=0.0)),  # consumed by mmengine's builder
        param_scheduler=[dict(type='LinearLR', start_factor=0.1, anything_goes=1)],  # takes **kwargs
        other=dict(type='NotAComponent', free_form=1)))  # unknown names are left to the builder


def test_a_component_given_as_a_string_is_a_clear_error():
    with pytest.raises(ConfigError, match='must be a dict'):
        WEIGHTINGS.build("dict(type='FixedWeighting')")


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


def test_all_registries_lists_every_declared_registry():
    """The option check finds components through ALL_REGISTRIES: one left out would go unchecked."""
    from mmtard import registry
    from mmtard.component_registry import MMTardRegistry

    declared = [value for value in vars(registry).values() if isinstance(value, MMTardRegistry)]
    assert {id(r) for r in registry.ALL_REGISTRIES} == {id(r) for r in declared}
    assert len(registry.ALL_REGISTRIES) == len(declared) == 24
