"""What mmtard relies on in mmengine beyond its documented surface, pinned so that an mmengine
upgrade that changes it fails here, by name, rather than somewhere downstream.

MMTardRegistry (mmtard/component_registry.py) only overrides public methods (``register_module``,
``get``, ``build``) and reads public attributes; these tests pin the behaviour of those it counts on.
mmtard/config.py uses mmengine's private ``DictAction._parse_iterable`` for ``-o`` values.
"""
import inspect

import pytest
from mmengine.config import DictAction
from mmengine.registry import Registry


class Plain:
    def __init__(self, size: int = 1) -> None:
        self.size = size


def test_register_module_takes_name_force_and_module():
    """MMTardRegistry.register_module overrides it with the same parameters, and calls it with force=True."""
    assert list(inspect.signature(Registry.register_module).parameters) == ['self', 'name', 'force', 'module']
    registry = Registry('contract-register')
    registry.register_module(module=Plain)
    other = type('Plain', (), {})
    registry.register_module(name='Plain', force=True, module=other)  # force replaces
    assert registry.get('Plain') is other


def test_module_dict_is_the_live_mapping_registrations_go_into():
    """Clash checks read it, and the test fixture `isolated_registries` restores registrations through it."""
    registry = Registry('contract-module-dict')
    registry.register_module(module=Plain)
    assert registry.module_dict == {'Plain': Plain}
    registry.module_dict.clear()
    assert registry.get('Plain') is None and len(registry) == 0


def test_get_returns_none_for_an_unknown_name_and_finds_names_in_parents():
    """MMTardRegistry.get turns the None into a did-you-mean error; find() walks ``parent`` itself."""
    parent = Registry('contract-parent', scope='contract_root')
    child = Registry('contract-child', parent=parent, scope='contract_child')
    parent.register_module(module=Plain)
    assert child.get('Plainn') is None
    assert child.get('Plain') is Plain and child.parent is parent
    assert Registry.split_scope_key('contract_root.Plain') == ('contract_root', 'Plain')


def test_build_passes_through_our_get_and_reraises_a_bad_keyword_as_type_error():
    """MMTardRegistry.build reads the option's name out of this message to suggest the right one."""
    looked_up = []

    class Watching(Registry):
        def get(self, key):
            looked_up.append(key)
            return super().get(key)

    registry = Watching('contract-build')
    registry.register_module(module=Plain)
    assert registry.build(dict(type='Plain', size=3)).size == 3
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'sise'"):
        registry.build(dict(type='Plain', sise=3))
    assert looked_up == ['Plain', 'Plain']


def test_locations_are_imported_once_by_import_from_location(tmp_path, monkeypatch):
    """plugins.ensure_plugins_loaded imports built-ins through every registry's import_from_location."""
    (tmp_path / 'contract_location_mod.py').write_text('IMPORTS = []\nIMPORTS.append(1)\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry('contract-locations', locations=['contract_location_mod'])
    registry.import_from_location()
    registry.import_from_location()
    import contract_location_mod

    assert contract_location_mod.IMPORTS == [1]


def test_dict_action_parses_option_values():
    """`-o key=value` values go through this private helper (mmtard/config.py parse_cfg_options)."""
    assert DictAction._parse_iterable('[1,2]') == [1, 2]
    assert DictAction._parse_iterable('3') == 3 and DictAction._parse_iterable('x') == 'x'

