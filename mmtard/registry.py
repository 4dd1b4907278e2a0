"""Every registry of mmtard, in one place.

mmengine's roots are re-declared as children in scope ``mmtard`` (so mmengine's Runner finds our
models, datasets, metrics and hooks), following mmpretrain.  mmengine allows one child per parent
per scope, so the method's own component kinds (teachers, students, attacks, weightings) are
parentless registries.

Unlike a plain mmengine registry, ours

* remembers which distribution registered each name (``mmtard`` for built-ins, the plugin's
  distribution otherwise) and refuses a second registration of a name, naming both owners;
* loads third-party plugins lazily the first time a component is looked up;
* answers an unknown name, or an unknown keyword in a component's config, with the closest
  valid names.
"""
from __future__ import annotations

import contextlib
import contextvars
import inspect
import re
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import Registry
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS

from .errors import ComponentNameClash, ConfigError, UnknownComponentError, did_you_mean

BUILTIN_OWNER = 'mmtard'
_current_owner: contextvars.ContextVar[str] = contextvars.ContextVar('mmtard_owner', default=BUILTIN_OWNER)


@contextlib.contextmanager
def registering_as(owner: str) -> Iterator[None]:
    """Attribute every registration made inside the block to distribution ``owner``."""
    token = _current_owner.set(owner)
    try:
        yield
    finally:
        _current_owner.reset(token)


#: Every MMTardRegistry, in creation order (for finding a component whose registry a config leaves implicit).
ALL_REGISTRIES: List['MMTardRegistry'] = []

_UNEXPECTED_KWARG = re.compile(r"unexpected keyword argument '(\w+)'")


class MMTardRegistry(Registry):
    """An mmengine registry that tracks owners, forbids clashes and suggests close names."""

    def __init__(self, name: str, *args: Any, description: str = '', builder_keys: Tuple[str, ...] = (),
                 cheap_to_build: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault('scope', 'mmtard')
        super().__init__(name, *args, **kwargs)
        self.description = description
        self.builder_keys = builder_keys  # config keys the builder consumes, not the component
        self.cheap_to_build = cheap_to_build  # no weights or data: building one just validates its values
        ALL_REGISTRIES.append(self)
        self._owners: Dict[str, str] = {}

    def owner(self, name: str) -> str:
        """Distribution that registered ``name`` in this registry."""
        return self._owners.get(name, BUILTIN_OWNER)

    def _register_module(self, module: Any, module_name: Optional[Union[str, List[str]]] = None,
                         force: bool = False) -> None:
        names = [module.__name__] if module_name is None else (
            [module_name] if isinstance(module_name, str) else list(module_name))
        owner = _current_owner.get()
        for name in names:
            existing = self._module_dict.get(name)
            if existing is None or existing is module:
                continue
            previous = self._owners.get(name, BUILTIN_OWNER)
            if not force or previous != owner:
                raise ComponentNameClash(
                    f"Cannot register {name!r} in the {self.name!r} registry for distribution {owner!r} "
                    f"({module.__module__}.{getattr(module, '__qualname__', module)}): the name is already "
                    f"registered by distribution {previous!r} ({existing.__module__}."
                    f"{getattr(existing, '__qualname__', existing)}). Rename one of the two components "
                    f"(register_module(name='...')), or uninstall one of the distributions.")
        super()._register_module(module, module_name, force=True)
        for name in names:
            self._owners[name] = owner

    def get(self, key: str) -> Any:
        from .plugins import ensure_plugins_loaded

        ensure_plugins_loaded()
        found = super().get(key)
        if found is None and isinstance(key, str):
            raise UnknownComponentError(self._unknown_message(key))
        return found

    def _names_hint(self) -> str:
        """Where to see the valid names: `mmtard list <registry>`, or the registry itself for those
        (optimizers, schedulers, ...) that `mmtard list` does not show."""
        short = next((name for name, reg in PUBLIC_REGISTRIES.items() if reg is self), None)
        if short:
            return f'Run `mmtard list {short}` to see every registered name.'
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
        from .plugins import ensure_plugins_loaded

        ensure_plugins_loaded()
        self.import_from_location()
        name = self.split_scope_key(key)[1]
        return next((r.module_dict[name] for r in self._lineage() if name in r.module_dict), None)

    def _unknown_message(self, key: str) -> str:
        from .plugins import failed_plugins

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


def _child(name: str, parent: Registry, location: str, description: str,
           builder_keys: Tuple[str, ...] = ()) -> MMTardRegistry:
    return MMTardRegistry(name, parent=parent, locations=[location], description=description,
                          builder_keys=builder_keys)


# Children of mmengine's roots: the Runner finds our components through them.
MODELS = _child('model', MMENGINE_MODELS, 'mmtard.models', 'distillers and training recipes (mmengine models)')
DATASETS = _child('dataset', MMENGINE_DATASETS, 'mmtard.datasets', 'image datasets with class names and templates')
TRANSFORMS = _child('transform', MMENGINE_TRANSFORMS, 'mmtard.datasets', 'data transforms')
DATA_SAMPLERS = _child('data sampler', MMENGINE_DATA_SAMPLERS, 'mmtard.datasets', 'data samplers')
METRICS = _child('metric', MMENGINE_METRICS, 'mmtard.evaluation', 'validation metrics')
EVALUATOR = _child('evaluator', MMENGINE_EVALUATOR, 'mmtard.evaluation', 'evaluators')
HOOKS = _child('hook', MMENGINE_HOOKS, 'mmtard.engine', 'training hooks')
LOOPS = _child('loop', MMENGINE_LOOPS, 'mmtard.engine', 'training and validation loops')
LOG_PROCESSORS = _child('log_processor', MMENGINE_LOG_PROCESSORS, 'mmtard.engine', 'log processors')
VISUALIZERS = _child('visualizer', MMENGINE_VISUALIZERS, 'mmtard.engine', 'visualizers')
VISBACKENDS = _child('vis_backend', MMENGINE_VISBACKENDS, 'mmtard.engine', 'visualisation back-ends')
FUNCTIONS = _child('function', MMENGINE_FUNCTIONS, 'mmtard.datasets', 'functions (collate, worker init)')
MODEL_WRAPPERS = _child('model_wrapper', MMENGINE_MODEL_WRAPPERS, 'mmtard.engine', 'model wrappers')
OPTIMIZERS = _child('optimizer', MMENGINE_OPTIMIZERS, 'mmtard.engine', 'optimizers')
OPTIM_WRAPPERS = _child('optim_wrapper', MMENGINE_OPTIM_WRAPPERS, 'mmtard.engine', 'optimizer wrappers',
                        builder_keys=('constructor', 'paramwise_cfg'))  # consumed by mmengine's builder
OPTIM_WRAPPER_CONSTRUCTORS = _child('optimizer wrapper constructor', MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
                                    'mmtard.engine', 'optimizer wrapper constructors')
PARAM_SCHEDULERS = _child('parameter scheduler', MMENGINE_PARAM_SCHEDULERS, 'mmtard.engine',
                          'learning-rate and momentum schedules')

# The method's own component kinds: parentless (mmengine has no root for them).
TEACHERS = MMTardRegistry('teacher', locations=['mmtard.models'],
                          description='frozen image-text encoders that guide the student')
STUDENTS = MMTardRegistry('student', locations=['mmtard.models'],
                          description='trainable image encoders paired with a frozen text tower')
ATTACKS = MMTardRegistry('attack', locations=['mmtard.attacks'], cheap_to_build=True,
                         description='adversarial attacks on pixel inputs in [0,1]')
WEIGHTINGS = MMTardRegistry('weighting', locations=['mmtard.weighting'], cheap_to_build=True,
                            description='per-sample weighting of the teachers\' distillation terms')

#: Registries `mmtard list` shows, by the short name users type.
PUBLIC_REGISTRIES: Dict[str, MMTardRegistry] = {
    'models': MODELS,
    'teachers': TEACHERS,
    'students': STUDENTS,
    'attacks': ATTACKS,
    'weightings': WEIGHTINGS,
    'datasets': DATASETS,
    'transforms': TRANSFORMS,
    'metrics': METRICS,
    'hooks': HOOKS,
    'loops': LOOPS,
}


def import_builtin_components() -> None:
    """Import every location of every public registry, so built-ins register before plugins."""
    for registry in PUBLIC_REGISTRIES.values():
        registry.import_from_location()


def _component(name: str) -> Optional[Tuple[Any, 'MMTardRegistry']]:
    """The one component registered as ``name`` in any registry; None when absent or ambiguous."""
    found: Dict[int, Tuple[Any, MMTardRegistry]] = {}
    for registry in ALL_REGISTRIES:
        target = registry.find(name)
        if target is not None:
            found.setdefault(id(target), (target, registry))
    return next(iter(found.values())) if len(found) == 1 else None


def check_component_options(node: Any, where: str = '') -> None:
    """Refuse a config key that the component it configures does not take (``model.atack=...``).

    mmengine's Runner builds the top-level components through its own root registries, where a
    misspelt option surfaces as a raw ``TypeError`` after minutes of set-up; checking the
    constructors' signatures first answers with the closest valid names instead.
    """
    import mmengine.runner  # noqa: F401  (registers mmengine's own loops, hooks and optimizers)

    if isinstance(node, dict):
        kind = node.get('type')
        found = _component(kind) if isinstance(kind, str) else None
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


def check_component_values(node: Any) -> None:
    """Build every cheap component (attacks, weightings) of a complete config, such as ``model``, so
    that a bad value (``eps=-3``) is reported before the Runner sets up and loads weights."""
    if isinstance(node, dict):
        found = _component(node['type']) if isinstance(node.get('type'), str) else None
        if found is not None and found[1].cheap_to_build:
            found[1].build(node)
            return
        for value in node.values():
            check_component_values(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            check_component_values(value)
