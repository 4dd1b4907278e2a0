"""``MMTardRegistry``: the mmengine registry every mmtard component kind is declared with.

Unlike a plain mmengine registry, it

* records which distribution registered each name (``mmtard`` for built-ins, a plugin's
  distribution otherwise; the bookkeeping lives in :mod:`mmtard.plugins`) and refuses a second
  registration of a name, naming both owners;
* loads third-party plugins lazily the first time a component is looked up;
* answers an unknown name, or an unknown keyword in a component's config, with the closest
  valid names.

It goes through mmengine's public API only (``register_module``, ``module_dict``, ``get``,
``build``, ``import_from_location``); ``tests/engine/test_mmengine_contract.py`` pins the behaviour of that
API it relies on, so an mmengine upgrade that changes it fails loudly.
"""
from __future__ import annotations

import inspect
import re
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

from mmengine.registry import Registry

from .errors import ComponentNameClash, ConfigError, UnknownComponentError, did_you_mean
from .plugins import current_owner, ensure_plugins_loaded, failed_plugins, import_builtins_first, owner_of, record_owner

#: How Python words a constructor's refusal of a keyword (mmengine re-raises it with this text).
_UNEXPECTED_KWARG = re.compile(r"unexpected keyword argument '(\w+)'")


def _qualified(obj: Any) -> str:
    return f"{obj.__module__}.{getattr(obj, '__qualname__', obj)}"


class MMTardRegistry(Registry):
    """An mmengine registry that tracks owners, forbids clashes and suggests close names.

    Args (besides mmengine's):
        description: one line for ``mmtard list``.
        listed_as: the name ``mmtard list`` shows it under (``weightings``); None when not listed.
        builder_keys: config keys the builder consumes, not the component (not checked as options).
        cheap_to_build: no weights or data, so building one just validates its values.
    """

    def __init__(self, name: str, *args: Any, description: str = '', listed_as: Optional[str] = None,
                 builder_keys: Tuple[str, ...] = (), cheap_to_build: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault('scope', 'mmtard')
        super().__init__(name, *args, **kwargs)
        self.description = description
        self.listed_as = listed_as
        self.builder_keys = builder_keys
        self.cheap_to_build = cheap_to_build
        import_builtins_first(self.import_from_location)

    def owner(self, name: str) -> str:
        """Distribution that registered ``name`` in this registry."""
        return owner_of(self.name, name)

    def register_module(self, name: Optional[Union[str, List[str]]] = None, force: bool = False,
                        module: Optional[Any] = None) -> Union[Any, Callable[[Any], Any]]:
        """mmengine's ``register_module`` (decorator or call), refusing a name another component
        holds; ``force`` only lets a distribution replace its own components."""
        if module is None:
            return lambda target: self.register_module(name=name, force=force, module=target)
        names = [module.__name__] if name is None else ([name] if isinstance(name, str) else list(name))
        owner = current_owner()
        for each in names:
            existing = self.module_dict.get(each)
            if existing is None or existing is module:
                continue
            previous = self.owner(each)
            if not force or previous != owner:
                raise ComponentNameClash(
                    f"Cannot register {each!r} in the {self.name!r} registry for distribution {owner!r} "
                    f"({_qualified(module)}): the name is already registered by distribution {previous!r} "
                    f"({_qualified(existing)}). Rename one of the two components "
                    f"(register_module(name='...')), or uninstall one of the distributions.")
        super().register_module(name=name, force=True, module=module)
        for each in names:
            record_owner(self.name, each, owner)
        return module

    def get(self, key: str) -> Any:
        ensure_plugins_loaded()
        found = super().get(key)
        if found is None and isinstance(key, str):
            raise UnknownComponentError(self._unknown_message(key))
        return found

    def _names_hint(self) -> str:
        """Where to see the valid names: `mmtard list <registry>`, or the registry itself for those
        (optimizers, schedulers, ...) that `mmtard list` does not show."""
        if self.listed_as:
            return f'Run `mmtard list {self.listed_as}` to see every registered name.'
        return f"Valid names: {', '.join(sorted(set(self._all_names())))}."

    def _lineage(self) -> Iterator[Registry]:
        """This registry, then its parents up to mmengine's root."""
        registry: Optional[Registry] = self
        while registry is not None:
            yield registry
            registry = registry.parent

    def _all_names(self) -> List[str]:
        return [name for registry in self._lineage() for name in registry.module_dict]

    def find(self, key: str) -> Optional[Any]:
        """The component registered as ``key`` here or in a parent, else None. Unlike :meth:`get`, a
        miss costs nothing: no did-you-mean message and no attempt to import ``key`` as a module path."""
        ensure_plugins_loaded()
        self.import_from_location()
        name = self.split_scope_key(key)[1]
        return next((r.module_dict[name] for r in self._lineage() if name in r.module_dict), None)

    def registered(self) -> Dict[str, Any]:
        """Every component of this registry (not of its parents) by name, in registration order:
        built-ins first, then plugins' (registries whose components are asked in turn rely on it)."""
        ensure_plugins_loaded()
        self.import_from_location()
        return dict(self.module_dict)

    def _unknown_message(self, key: str) -> str:
        msg = (f"{key!r} is not registered in the {self.name!r} registry.{did_you_mean(key, self._all_names())} "
               f"{self._names_hint()}")
        failures = failed_plugins()
        if failures:
            msg += (' Note that these plugins failed to load and may have provided it: '
                    + '; '.join(f'{f.distribution} ({f.cause})' for f in failures) + '.')
        return msg

    def build(self, cfg: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(cfg, str):  # `-o model.weighting="dict(type=...)"` arrives as a string
            raise ConfigError(
                f"A {self.name} config must be a dict such as dict(type='...'), got the string {cfg!r}. "
                f"On the command line set its keys one by one, e.g. -o model.weighting.type=NAME.")
        if isinstance(cfg, dict) and 'type' not in cfg:
            raise ConfigError(
                f"A config for the {self.name!r} registry has no 'type' key: {dict(cfg)!r}. Add "
                f"type='<name>'. {self._names_hint()}")
        try:
            return super().build(cfg, *args, **kwargs)
        except TypeError as err:
            match = _UNEXPECTED_KWARG.search(str(err))
            obj_type = cfg.get('type') if isinstance(cfg, dict) else None
            if match is None or obj_type is None:
                raise
            target = self.get(obj_type) if isinstance(obj_type, str) else obj_type
            raise unknown_option_error(target, self, match.group(1)) from None


def accepted_options(target: Any) -> Optional[List[str]]:
    """The keyword options a component's constructor takes, or None when it takes ``**kwargs``."""
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return None
    return [name for name, p in params.items() if p.kind is not p.VAR_POSITIONAL and name != 'self']


def unknown_option_error(target: Any, registry: Registry, option: str, where: str = '') -> ConfigError:
    """The error for a config ``option`` that ``target``'s constructor does not take."""
    valid = accepted_options(target) or []
    located = f' (config key {where!r})' if where else ''
    listed = f" Its options are: {', '.join(valid)}." if valid else ''
    return ConfigError(
        f"{getattr(target, '__name__', target)} (registry {registry.name!r}) has no option {option!r}"
        f"{located}.{did_you_mean(option, valid)}{listed}")
