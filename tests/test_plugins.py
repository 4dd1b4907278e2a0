import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mmtard import plugins
from mmtard.errors import ComponentNameClash, UnknownComponentError
from mmtard.listing import list_components
from mmtard.registry import WEIGHTINGS

from plugin_helpers import activate, make_distribution

REPO = Path(__file__).resolve().parents[1]

GOOD_PLUGIN = '''
from mmtard.registry import WEIGHTINGS
from mmtard.weighting import FixedWeighting

@WEIGHTINGS.register_module()
class HalfWeighting(FixedWeighting):
    """Fixed weighting that halves everything."""
'''


def test_plugin_components_are_listed_with_their_distribution(tmp_path, monkeypatch, isolated_registries):
    activate(make_distribution(tmp_path, 'good-plugin', {'half': 'good_plugin_mod'},
                               {'good_plugin_mod': GOOD_PLUGIN}), monkeypatch)
    rows = {r.name: r for r in list_components('weightings')}
    assert rows['HalfWeighting'].distribution == 'good-plugin'
    assert rows['HalfWeighting'].description == 'Fixed weighting that halves everything.'
    assert rows['FixedWeighting'].distribution == 'mmtard'
    assert [r.distribution for r in plugins.loaded_plugins()] == ['good-plugin']


def test_a_callable_entry_point_is_called(tmp_path, monkeypatch, isolated_registries):
    source = GOOD_PLUGIN.replace('@WEIGHTINGS.register_module()\n', '') + (
        '\ndef register():\n    WEIGHTINGS.register_module(module=HalfWeighting)\n')
    activate(make_distribution(tmp_path, 'callable-plugin', {'half': 'callable_mod:register'},
                               {'callable_mod': source}), monkeypatch)
    plugins.ensure_plugins_loaded()
    assert WEIGHTINGS.owner('HalfWeighting') == 'callable-plugin'


def test_broken_plugin_is_reported_and_does_not_break_other_lookups(tmp_path, monkeypatch, isolated_registries):
    activate(make_distribution(tmp_path, 'broken-plugin', {'boom': 'broken_mod'},
                               {'broken_mod': 'raise ImportError("needs libfoo 2")\n'}), monkeypatch)
    with pytest.warns(RuntimeWarning, match="broken-plugin.*libfoo 2"):
        failures = plugins.ensure_plugins_loaded()
    assert [f.distribution for f in failures] == ['broken-plugin']
    assert WEIGHTINGS.get('FixedWeighting') is not None  # unrelated components still work
    with pytest.raises(UnknownComponentError, match='broken-plugin'):
        WEIGHTINGS.get('SomethingTheBrokenPluginHad')


def test_plugin_clashing_with_a_builtin_names_both_owners(tmp_path, monkeypatch, isolated_registries):
    source = GOOD_PLUGIN.replace('register_module()', "register_module(name='FixedWeighting')")
    activate(make_distribution(tmp_path, 'clashing-plugin', {'clash': 'clash_mod'}, {'clash_mod': source}),
             monkeypatch)
    with pytest.raises(ComponentNameClash) as err:
        plugins.ensure_plugins_loaded()
    assert "'clashing-plugin'" in str(err.value) and "'mmtard'" in str(err.value)


def test_disable_switch_skips_plugins(tmp_path, monkeypatch, isolated_registries):
    activate(make_distribution(tmp_path, 'good-plugin', {'half': 'good_plugin_mod2'},
                               {'good_plugin_mod2': GOOD_PLUGIN}), monkeypatch)
    monkeypatch.setenv(plugins.DISABLE_ENV, '1')
    plugins.ensure_plugins_loaded()
    assert 'HalfWeighting' not in WEIGHTINGS.module_dict
    assert plugins.loaded_plugins() == []


def test_discovery_is_sorted(tmp_path, monkeypatch, isolated_registries):
    make_distribution(tmp_path, 'zz-plugin', {'a': 'zz_mod'}, {'zz_mod': ''})
    make_distribution(tmp_path, 'aa-plugin', {'b': 'aa_mod'}, {'aa_mod': ''})
    activate(tmp_path, monkeypatch)
    names = [r.distribution for r, _ in plugins.discover() if r.distribution.endswith('-plugin')]
    assert names == ['aa-plugin', 'zz-plugin']


@pytest.fixture(scope='module')
def installed_example_plugin(tmp_path_factory):
    """pip-install the repository's example plugin into a target folder: real dist-info metadata."""
    target = tmp_path_factory.mktemp('site')
    subprocess.run([sys.executable, '-m', 'pip', 'install', '--quiet', '--no-deps', '--no-build-isolation',
                    '--target', str(target), str(REPO / 'plugins' / 'mmtard-example-weighting')],
                   check=True, capture_output=True)
    return target


def test_example_plugin_is_listed_by_the_cli(installed_example_plugin):
    env = {**os.environ, 'PYTHONPATH': str(installed_example_plugin)}
    env.pop(plugins.DISABLE_ENV, None)
    out = subprocess.run([sys.executable, '-m', 'mmtard', 'list', 'weightings', '--format', 'json'],
                         check=True, capture_output=True, text=True, env=env).stdout
    rows = {row['name']: row for row in json.loads(out)}
    assert rows['TeacherAgreementWeighting']['distribution'] == 'mmtard-example-weighting'
    assert rows['ReferenceCosineWeighting']['distribution'] == 'mmtard'


def test_example_plugin_is_usable(installed_example_plugin, monkeypatch, isolated_registries):
    import torch

    from mmtard.weighting import TeacherTerm

    activate(installed_example_plugin, monkeypatch)
    weighting = WEIGHTINGS.build(dict(type='TeacherAgreementWeighting', disagreement_weight=0.0))
    kl = torch.tensor([[0.2, 0.2], [1.0, 1.0]])
    agree_logits = torch.tensor([[5.0, 0.0], [5.0, 0.0]])
    disagree_logits = torch.tensor([[5.0, 0.0], [0.0, 5.0]])
    terms = {'a': TeacherTerm('a', 'adv', kl, agree_logits, torch.zeros(2, 1), torch.zeros(2, 1)),
             'b': TeacherTerm('b', 'clean', kl, disagree_logits, torch.zeros(2, 1), torch.zeros(2, 1))}
    out = weighting(terms, torch.tensor([0, 1]))
    # sample 0: teachers agree, KL 0.4 counts fully; sample 1 disagrees and is dropped: (0.4 + 0) / 2
    assert out.loss.item() == pytest.approx(0.2)
    assert WEIGHTINGS.owner('TeacherAgreementWeighting') == 'mmtard-example-weighting'


def test_the_cli_registers_built_ins_before_any_plugin():
    """A plugin that reuses a built-in name must be the registration refused, so the built-ins of
    every kind are in place when the CLI loads plugins, even before any command imported them."""
    code = ('import sys\n'
            'from mmtard.cli.common import load_plugins_reporting_failures\n'
            'load_plugins_reporting_failures()\n'
            'print(all(name in sys.modules for name in ("mmtard.models", "mmtard.attacks", "mmtard.weighting", '
            '"mmtard.datasets", "mmtard.evaluation", "mmtard.engine")))\n')
    env = {**os.environ, plugins.DISABLE_ENV: '1'}
    out = subprocess.run([sys.executable, '-c', code], check=True, capture_output=True, text=True, env=env).stdout
    assert out.strip() == 'True'
