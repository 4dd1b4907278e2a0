"""Third-party components, discovered through the entry-point group ``mmtard.plugins``.

A plugin distribution declares, in its ``pyproject.toml``::

    [project.entry-points."mmtard.plugins"]
    my_plugin = "my_package.mmtard_plugin"            # a module that registers on import
    # or "my_package:register" -- a callable, called once with no arguments

Discovery is deterministic (sorted by distribution, then entry-point name). Every registration a
plugin makes is attributed to its distribution. A plugin that fails is recorded, reported once,
and never stops unrelated commands; a command that needs a component the failed plugin would have
provided says so. ``MMTARD_DISABLE_PLUGINS=1`` turns auto-loading off.

This module also keeps who registered what (the ownership bookkeeping the registries consult): it
imports no registry itself, and registries hand it, when they are created, the import of their
built-in components, which always runs before any plugin loads.
"""
from __future__ import annotations

import contextlib
import contextvars
import os
import types
import warnings
from dataclasses import dataclass
from importlib import metadata
from typing import Callable, Dict, Iterator, List, Tuple

from .errors import ComponentNameClash, MMTardError, PluginLoadError

ENTRY_POINT_GROUP = 'mmtard.plugins'
DISABLE_ENV = 'MMTARD_DISABLE_PLUGINS'
BUILTIN_OWNER = 'mmtard'

_current_owner: contextvars.ContextVar[str] = contextvars.ContextVar('mmtard_owner', default=BUILTIN_OWNER)
#: (registry name, component name) -> the distribution that registered it.
_owners: Dict[Tuple[str, str], str] = {}
#: Every registry's import of its built-in components (``Registry.import_from_location``).
_builtin_importers: List[Callable[[], None]] = []


@contextlib.contextmanager
def registering_as(owner: str) -> Iterator[None]:
    """Attribute every registration made inside the block to distribution ``owner``."""
    token = _current_owner.set(owner)
    try:
        yield
    finally:
        _current_owner.reset(token)


def current_owner() -> str:
    """The distribution a registration made now belongs to (``mmtard`` outside any plugin)."""
    return _current_owner.get()


def owner_of(registry: str, name: str) -> str:
    """The distribution that registered ``name`` in the registry called ``registry``."""
    return _owners.get((registry, name), BUILTIN_OWNER)


def record_owner(registry: str, name: str, owner: str) -> None:
    """Note that distribution ``owner`` registered ``name`` in the registry called ``registry``."""
    _owners[(registry, name)] = owner


def import_builtins_first(importer: Callable[[], None]) -> None:
    """Run ``importer`` (a registry's import of its built-in components) before any plugin loads, so
    that a plugin reusing a built-in name is the registration refused, never the built-in."""
    _builtin_importers.append(importer)


@dataclass(frozen=True)
class PluginRecord:
    """One discovered entry point, with the distribution that declares it."""

    distribution: str
    version: str
    name: str
    value: str


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be loaded, and why (one line)."""

    distribution: str
    entry_point: str
    cause: str


_state = {'loaded': False}
_loaded: List[PluginRecord] = []
_failures: List[PluginFailure] = []


def plugins_disabled() -> bool:
    return os.environ.get(DISABLE_ENV, '').strip().lower() not in ('', '0', 'false', 'no')


def discover() -> List[tuple]:
    """(record, entry point) pairs of the group, sorted so that loading order never varies."""
    found = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, 'dist', None)
        dist_name = dist.metadata['Name'] if dist is not None else '<unknown distribution>'
        version = dist.version if dist is not None else '?'
        found.append((PluginRecord(dist_name, version, ep.name, ep.value), ep))
    return sorted(found, key=lambda pair: (pair[0].distribution.lower(), pair[0].name))


class PluginInterrupted(MMTardError):
    """A KeyboardInterrupt while a plugin was imported: the command stops (exit 130), naming the plugin."""

    exit_code = 130


def load_plugin(record: PluginRecord, entry_point: metadata.EntryPoint) -> None:
    """Import one entry point under its distribution's name; raise PluginLoadError on failure."""
    with registering_as(record.distribution):
        try:
            target = entry_point.load()
            if callable(target) and not isinstance(target, (type, types.ModuleType)):
                target()
        except ComponentNameClash:
            raise
        except KeyboardInterrupt:  # Ctrl-C, or a plugin raising it: either way stop, naming the plugin
            raise PluginInterrupted(
                f"Interrupted while loading plugin {record.name!r} of distribution {record.distribution!r} "
                f"{record.version} ({record.value}): by Ctrl-C, or by the plugin itself raising KeyboardInterrupt "
                f"on import. If every command stops here, the plugin is at fault: uninstall it (pip uninstall "
                f"{record.distribution}), or set {DISABLE_ENV}=1 to skip all plugins.") from None
        except (Exception, SystemExit) as err:  # a plugin's own bug (or sys.exit) must not end our command
            raise PluginLoadError(
                f"Plugin {record.name!r} of distribution {record.distribution!r} "
                f"{record.version} ({record.value}) failed to load: {type(err).__name__}: {err}. "
                f"Fix or reinstall that distribution, uninstall it (pip uninstall "
                f"{record.distribution}), or set {DISABLE_ENV}=1 to skip all plugins.") from err


def ensure_plugins_loaded(force: bool = False) -> List[PluginFailure]:
    """Register built-ins, then every plugin once; returns the failures (also kept for errors).

    The built-ins are those of every registry declared so far: all of them once ``mmtard.registry``
    is imported, which every caller that looks components up has done (the CLI does it first).
    A name clash is raised (it is never safe to guess which component a config meant); any other
    plugin failure is warned about and recorded, so unrelated commands keep working.
    """
    if _state['loaded'] and not force:
        return list(_failures)
    _state['loaded'] = True
    _loaded.clear()
    _failures.clear()
    for import_builtins in list(_builtin_importers):
        import_builtins()
    if plugins_disabled():
        return []
    for record, ep in discover():
        try:
            load_plugin(record, ep)
        except PluginLoadError as err:
            _failures.append(PluginFailure(record.distribution, record.name,
                                           f'{type(err.__cause__).__name__}: {err.__cause__}'))
            warnings.warn(str(err), RuntimeWarning, stacklevel=2)
        else:
            _loaded.append(record)
    return list(_failures)


def loaded_plugins() -> List[PluginRecord]:
    return list(_loaded)


def failed_plugins() -> List[PluginFailure]:
    return list(_failures)


def forget_loaded_plugins() -> None:
    """Forget what was loaded, so the next lookup loads plugins again (tests, long sessions)."""
    _state['loaded'] = False
    _loaded.clear()
    _failures.clear()
