"""The command line keeps no lists of its own: `--attack` names, `--n-iter`'s option, `--model` families
and `--format` names all come from the registries, so a plugin's component is reachable from the
command line with no edit outside its module."""
import pytest

from mmtard.apis.eval_flags import EvalFlags, command_line_attacks
from mmtard.interop.exporters import formats
from mmtard.interop.model_sources import EncoderSource, encoder_config
from mmtard.attacks.base import Attack, AttackBudget
from mmtard.component_checks import check_component_options
from mmtard.component_registry import accepted_options
from mmtard.errors import ComponentNameClash, ConfigError
from mmtard.listing import list_components
from mmtard.models.distillers import MMTARD, SingleTeacherARD
from mmtard.registry import ATTACKS, MODEL_SOURCES

TINY_VIT = 'mmtard-tiny-vit'


def attack_of(**flags):
    return EvalFlags(**flags).evaluation_section({}, None)[0]['attack']


def test_the_built_in_attack_names_and_what_they_pick():
    assert command_line_attacks() == {
        'autoattack': {'type': 'AutoAttack', 'version': 'custom'},
        'autoattack-standard': {'type': 'AutoAttack', 'version': 'standard'},
        'apgd-ce': {'type': 'AutoAttack', 'version': 'apgd-ce'},
        'pgd': {'type': 'PGD'}}
    described = {row.name: row.description for row in list_components('attacks')}
    assert described['AutoAttack'].endswith('(--attack autoattack, autoattack-standard, apgd-ce)')
    assert '--attack' not in described['APGD']


def test_n_iter_sets_the_option_each_attack_declares():
    assert attack_of(attack='pgd', n_iter=7) == {'type': 'PGD', 'steps': 7}
    assert attack_of(attack='apgd-ce', n_iter=7) == {'type': 'AutoAttack', 'version': 'apgd-ce', 'n_iter': 7}
    square = EvalFlags(n_iter=7).evaluation_section({'attack': {'type': 'Square'}}, None)[0]['attack']
    assert square == {'type': 'Square', 'n_queries': 7}
    untyped = EvalFlags(n_iter=7).evaluation_section({'attack': {'n_restarts': 1}}, None)[0]['attack']
    assert untyped == {'n_restarts': 1, 'n_iter': 7}  # options without a type tune the default AutoAttack


class OneStep(Attack):
    """A one-step attack with a command-line name and no iteration option."""

    command_line_names = {'one-step': {'norm': 'L2'}}

    def budget(self, num_classes):
        return AttackBudget(iterations=1)

    def _perturb(self, forward, images, objective):
        return images


def test_a_plugin_attack_is_picked_by_its_own_name(isolated_registries):
    ATTACKS.register_module(module=OneStep)
    assert attack_of(attack='one-step') == {'type': 'OneStep', 'norm': 'L2'}
    with pytest.raises(ConfigError, match="the attack 'OneStep' declares no iteration option"):
        attack_of(attack='one-step', n_iter=3)
    with pytest.raises(ConfigError, match="--attack 'one-stp' names no registered attack. Did you mean 'one-step'"):
        attack_of(attack='one-stp')


def test_two_attacks_claiming_one_name_are_refused(isolated_registries):
    ATTACKS.register_module(module=OneStep)
    ATTACKS.register_module(module=type('AlsoPGD', (OneStep,), {'command_line_names': {'pgd': {}}}))
    with pytest.raises(ComponentNameClash, match="--attack 'pgd' is claimed by the attacks 'PGD'.*and 'AlsoPGD'"):
        command_line_attacks()


class Everything(EncoderSource):
    """A source that claims every name."""

    def handles(self, model):
        return True

    def encoder_config(self, model, pretrained, text_tower, text_pretrained):
        return dict(type='Everything', name=model)


def test_model_sources_are_asked_in_turn_built_ins_first(isolated_registries):
    MODEL_SOURCES.register_module(module=Everything)
    assert list(MODEL_SOURCES.registered()) == ['open_clip', 'timm', 'Everything']
    assert encoder_config(TINY_VIT, 'openai') == dict(type='OpenCLIPEncoder', arch=TINY_VIT, pretrained='openai')
    assert encoder_config('test_vit', 'timm', TINY_VIT) == dict(
        type='TimmEncoder', arch='test_vit', pretrained=True, text_tower=dict(arch=TINY_VIT, pretrained=None))
    assert encoder_config('my-model', None) == dict(type='Everything', name='my-model')


def test_a_name_no_source_knows_is_explained():
    with pytest.raises(ConfigError, match=r"no model source \(open_clip, timm; `mmtard list model-sources`.*"
                                          r"Did you mean 'ViT-B-32'"):
        encoder_config('ViT-B-3', None)
    with pytest.raises(ConfigError, match="'test_vit' is an image backbone.*--text-tower ARCH"):
        encoder_config('test_vit', None)


def test_export_formats_are_the_registered_exporters():
    assert formats() == ['open_clip', 'vision', 'timm', 'hf-hub']
    assert {row.name for row in list_components('exporters')} == set(formats())


def test_single_teacher_ard_shows_its_options_to_the_config_check():
    fixed = {'teachers', 'weighting', 'attack_target'}
    assert set(accepted_options(SingleTeacherARD)) == set(accepted_options(MMTARD)) - fixed | {'teacher'}
    model = dict(type='SingleTeacherARD', student=dict(type='OpenCLIPEncoder', arch=TINY_VIT),
                 teacher=dict(type='OpenCLIPEncoder', arch=TINY_VIT))
    check_component_options(dict(model={**model, 'val_teacher_transfer': True}))
    with pytest.raises(ConfigError, match="no option 'val_teacher_transfr'.*Did you mean 'val_teacher_transfer'"):
        check_component_options(dict(model={**model, 'val_teacher_transfr': True}))
    with pytest.raises(ConfigError, match="no option 'weighting'"):  # fixed: MMTARD chooses it
        check_component_options(dict(model={**model, 'weighting': dict(type='FixedWeighting')}))


def test_the_command_line_completes_names_from_the_registries(isolated_registries):
    from mmtard.cli.eval import eval_command

    ATTACKS.register_module(module=OneStep)
    params = {param.name: param for param in eval_command.params}
    ctx = eval_command.make_context('eval', [], resilient_parsing=True)
    assert [item.value for item in params['attack'].shell_complete(ctx, '')] == [
        'autoattack', 'autoattack-standard', 'apgd-ce', 'pgd', 'one-step']
    assert [item.value for item in params['preset'].shell_complete(ctx, 'p')] == ['paper']
