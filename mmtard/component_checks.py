"""Checking a config's components before anything is built or loaded.

mmengine's Runner builds the top-level components through its own root registries, where a
misspelt option surfaces as a raw ``TypeError`` after minutes of set-up, and a bad value only once
the component is built. Walking the config first answers both at once: every option is checked
against its component's constructor (with the closest valid names), and the cheap components
(attacks, weightings) are built so that their own value checks run.
"""
from __future__ import annotations

import inspect
from typing import Any, Dict, Optional, Tuple

from .component_registry import MMTardRegistry, accepted_options, unknown_option_error
from .errors import ConfigError, UnknownComponentError, did_you_mean
from .registry import ALL_REGISTRIES


def find_component(name: str) -> Optional[Tuple[Any, MMTardRegistry]]:
    """The one component registered as ``name`` in any registry; None when absent or ambiguous."""
    found: Dict[int, Tuple[Any, MMTardRegistry]] = {}
    for registry in ALL_REGISTRIES:
        target = registry.find(name)
        if target is not None:
            found.setdefault(id(target), (target, registry))
    return next(iter(found.values())) if len(found) == 1 else None


def options_kept_on_type_change(options: Dict[str, Any], new_type: str) -> Dict[str, Any]:
    """The options of a component that one of type ``new_type`` also takes (all of them when it takes
    ``**kwargs``; none when ``new_type`` is unknown, which its lookup then reports)."""
    found = find_component(new_type)
    if found is None:
        return {}
    valid = accepted_options(found[0])
    return {key: value for key, value in options.items()
            if key != 'type' and (valid is None or key in valid or key in found[1].builder_keys)}


def check_registered(kind: str, where: str, only_typos: bool = True) -> None:
    """Refuse a ``type`` no registry knows before the Runner sets up: with ``only_typos``, only one
    close to a registered name ('ReferenceCosineWieghting'; other names may be free-form, left to
    their builder). Names with a scope or module path ('mmdet.X') are left to mmengine."""
    if '.' in kind or any(registry.find(kind) is not None for registry in ALL_REGISTRIES):
        return
    names = {name for registry in ALL_REGISTRIES
             for level in (registry, registry.parent) if level is not None for name in level.module_dict}
    close = did_you_mean(kind, names)
    if close or not only_typos:
        raise UnknownComponentError(f'{where}={kind!r} is not a registered component.{close} Run `mmtard list` to '
                                    f'see the registered names (a plugin\'s appear once it is installed).')


def check_component_options(node: Any, where: str = '') -> None:
    """Refuse a config key that the component it configures does not take (``model.atack=...``)."""
    import mmengine.runner  # noqa: F401  (registers mmengine's own loops, hooks and optimizers)

    if isinstance(node, dict):
        kind = node.get('type')
        found = find_component(kind) if isinstance(kind, str) else None
        if isinstance(kind, str) and found is None:
            check_registered(kind, f'{where}.type'.lstrip('.'))
        if found is not None:
            target, registry = found
            valid = accepted_options(target)
            if valid is not None:
                for key in node:
                    if key != 'type' and key not in valid and key not in registry.builder_keys:
                        raise unknown_option_error(target, registry, key, f'{where}.{key}'.lstrip('.'))
        for key, value in node.items():
            check_component_options(value, f'{where}.{key}'.lstrip('.'))
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node):
            check_component_options(value, f'{where}.{index}')


def check_component_values(node: Any, where: str = 'model') -> None:
    """Build every cheap component (attacks, weightings) of a complete config, such as ``model``, so
    that a bad value (``eps=-3``) or a missing required one is reported before the Runner sets up
    and loads weights; of the others (encoders), check that every required option is given (a timm
    student without ``text_tower``)."""
    if isinstance(node, dict):
        found = find_component(node['type']) if isinstance(node.get('type'), str) else None
        if isinstance(node.get('type'), str) and found is None:  # in a model, every typed dict is a component
            check_registered(node['type'], f'{where}.type', only_typos=False)
        if found is not None:
            try:
                inspect.signature(found[0]).bind(**{k: v for k, v in node.items() if k != 'type'})
            except TypeError as err:
                if found[1].cheap_to_build or 'missing' in str(err):
                    name = str(err).rpartition(': ')[2].strip("'") if 'missing' in str(err) else '<name>'
                    raise ConfigError(f"{where} ({node['type']}): {err}. Set it in the config or with "
                                      f"-o {where}.{name}=<value>.") from None
        if found is not None and found[1].cheap_to_build:
            found[1].build(node)
            return
        for key, value in node.items():
            check_component_values(value, f'{where}.{key}')
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node):
            check_component_values(value, f'{where}.{index}')
