"""Loading mmengine Python configs with clear errors and typo detection."""
from __future__ import annotations

import ast
import difflib
import os
from pathlib import Path
from typing import Any, Dict, Iterable, Optional, Sequence, Union

from mmengine.config import Config, DictAction
from mmengine.config.config import DELETE_KEY

from .errors import ConfigError, error_detail

#: Top-level keys mmengine's Runner and mmtard's commands read. Any other top-level name is legal
#: (configs define variables), but one that is *nearly* one of these is almost surely a typo.
KNOWN_TOP_LEVEL_KEYS = (
    'model', 'work_dir', 'train_dataloader', 'val_dataloader', 'test_dataloader', 'train_cfg',
    'val_cfg', 'test_cfg', 'auto_scale_lr', 'optim_wrapper', 'param_scheduler', 'val_evaluator',
    'test_evaluator', 'default_hooks', 'custom_hooks', 'data_preprocessor', 'load_from', 'resume',
    'launcher', 'env_cfg', 'log_processor', 'log_level', 'visualizer', 'default_scope', 'randomness',
    'experiment_name', 'cfg', 'benchmark', 'evaluation', 'model_wrapper_cfg', 'sync_bn', 'find_unused_parameters',
    'activation_checkpointing', 'efficient_conv_bn_eval', 'compile', 'gpu_ids', 'console_log_level',
    'resume_lr_from_config', 'stretch_schedule')


def _literal(node: ast.AST) -> Any:
    """The value of a Python literal expression that may also call ``dict(key=value, ...)``."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == 'dict' and not node.args \
            and all(k.arg is not None for k in node.keywords):
        return {k.arg: _literal(k.value) for k in node.keywords}
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_literal(item) for item in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.Dict):
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values)}
    return ast.literal_eval(node)


def _parse_value(value: str) -> Any:
    """mmengine's value parsing (numbers, bare strings, lists), and lists of dicts as Python writes them
    (``[dict(name='x', dataset=dict(type=...))]``), which mmengine's parser cannot read."""
    if value.lstrip()[:1] in '[(' and ('dict(' in value or '{' in value):
        return _literal(ast.parse(value.strip(), mode='eval').body)
    return DictAction._parse_iterable(value)


def parse_cfg_options(options: Sequence[str]) -> Dict[str, Any]:
    """Turn ``['a.b=1', 'c=[1,2]', "d=[dict(k='v')]"]`` into a dict, with mmengine's value parsing (ints,
    lists, ...) and lists of ``dict(...)``."""
    parsed: Dict[str, Any] = {}
    for option in options:
        key, sep, value = option.partition('=')
        if not sep or not key:
            raise ConfigError(
                f"--cfg-options expects KEY=VALUE pairs such as 'optim_wrapper.optimizer.lr=1e-4', "
                f"got {option!r}.")
        try:
            parsed[key.strip()] = _parse_value(value)
        except Exception:  # mmengine asserts on unbalanced brackets and quotes; ast raises SyntaxError
            raise ConfigError(f"--cfg-options {option!r}: the value {value!r} cannot be parsed. Values are numbers, "
                              f"strings, lists and tuples with balanced brackets and quotes, e.g. -o "
                              f"model.val_attack.eps=[1,2], or lists of dicts written as Python literals, e.g. "
                              f"-o \"evaluation.datasets=[dict(type='ImageFolderDataset', root='photos')]\"; set a "
                              f"component's keys one by one (-o a.b.c=1) or in a config file.") from None
    return parsed


def _value_at(node: Any, path: Sequence[str]) -> Any:
    """The config value at a split key path (list items by index), or ``_MISSING``."""
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


_MISSING = object()


def _paths_ending_with(node: Any, suffix: Sequence[str], prefix: Sequence[str] = ()) -> Iterable[str]:
    """Dotted paths under ``node`` whose last components are ``suffix`` (where a leftover key would act)."""
    if list(prefix[-len(suffix):]) == list(suffix) and len(prefix) > len(suffix):
        yield '.'.join(prefix)
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, (list, tuple)) else ()
    for key, value in items:
        yield from _paths_ending_with(value, suffix, (*prefix, str(key)))


def check_cfg_option_keys(cfg: Config, cfg_options: Dict[str, Any]) -> None:
    """Refuse an option whose top-level key nothing reads: a config variable such as ``max_iters``
    has already been copied into the settings that use it (``train_cfg.max_iters``), so changing it
    would change nothing."""
    tree = cfg.to_dict()
    for key, value in cfg_options.items():
        path = key.split('.')
        current = _value_at(tree, path)
        if isinstance(current, dict) and 'type' in current and not isinstance(value, dict):
            raise ConfigError(f"--cfg-options {key}={value!r}: {key} is a component (type {current['type']!r}), "
                              f"which -o cannot replace with a value. Set its keys one by one, e.g. -o {key}.type=... "
                              f"-o {key}.<option>=..., or replace it in a config file.")
        if path[0] in KNOWN_TOP_LEVEL_KEYS:
            continue
        working = sorted(set(_paths_ending_with({k: v for k, v in tree.items() if k in KNOWN_TOP_LEVEL_KEYS}, path)))
        if working:
            hint = 'Set ' + ' or '.join(f'-o {p}=...' for p in working[:4]) + ' instead.'
        else:
            hint = f"Top-level keys that take effect: {', '.join(k for k in KNOWN_TOP_LEVEL_KEYS if k in tree)}."
        what = ('a variable of the config file, already copied into the settings that use it'
                if path[0] in tree else 'not a setting of this config')
        raise ConfigError(f"--cfg-options {key}=...: {path[0]!r} is {what}, so this option would change "
                          f"nothing. {hint} (`mmtard config show CONFIG` prints every setting.)")


def _component_replacements(tree: Dict[str, Any], cfg_options: Dict[str, Any]) -> Dict[str, Any]:
    """``-o X.type=New`` where ``X`` is a component of another type: ``X`` is replaced, not merged,
    keeping only the options the new type also takes (``eps`` from PGD to APGD, but not ReferenceCosine-
    Weighting's ``coefficients`` for FixedWeighting)."""
    from .component_checks import options_kept_on_type_change

    replacements = {}
    for key, value in cfg_options.items():
        path = key.split('.')
        if path[-1] != 'type' or len(path) < 2:
            continue
        current = _value_at(tree, path[:-1])
        if isinstance(current, dict) and current.get('type') not in (None, value):
            replacements['.'.join(path[:-1])] = {DELETE_KEY: True, 'type': value,
                                                 **options_kept_on_type_change(current, value)}
    return replacements


def check_top_level_keys(keys: Iterable[str], known: Sequence[str] = KNOWN_TOP_LEVEL_KEYS) -> None:
    """Refuse a top-level key that is a near miss of a known one (``train_dataloder``)."""
    for key in keys:
        if key in known:
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.85)
        if close:
            raise ConfigError(
                f"The config sets top-level key {key!r}, which mmtard does not read. Did you mean "
                f"{close[0]!r}? Rename it (a misspelt key would silently fall back to a default).")


def load_config(path: os.PathLike | str, cfg_options: Optional[Dict[str, Any]] = None) -> Config:
    """Read a config file, apply ``--cfg-options`` and check it for misspelt top-level keys."""
    path = Path(path)
    if not path.is_file():
        hint = ''
        if path.parent.is_dir():
            names = [p.name for p in path.parent.glob('*.py')]
            close = difflib.get_close_matches(path.name, names, n=3, cutoff=0.6)
            if close:
                hint = ' Did you mean ' + ', '.join(repr(str(path.parent / c)) for c in close) + '?'
        raise ConfigError(f"Config file {str(path)!r} does not exist.{hint} Configs shipped with mmtard "
                          f"live in the repository's configs/ folder.")
    if path.suffix != '.py':
        raise ConfigError(f"{str(path)!r} is not a config: mmtard configs are Python files (*.py).")
    try:
        cfg = Config.fromfile(str(path))
    except Exception as err:  # the file is user code: anything it raises is a config error
        raise ConfigError(f"Config {str(path)!r} (or a _base_ file it names) could not be read "
                          f"({error_detail(err)}). Configs are Python files; fix the line "
                          f"or the {{{{_base_.xxx}}}} reference it names.") from None
    if cfg_options:
        merge_cfg_options(cfg, cfg_options)
    check_top_level_keys(cfg.keys())
    return cfg


def merge_cfg_options(cfg: Config, cfg_options: Dict[str, Any]) -> None:
    """Apply ``--cfg-options``, turning mmengine's errors about impossible paths into one paragraph."""
    check_cfg_option_keys(cfg, cfg_options)
    replacements = _component_replacements(cfg.to_dict(), cfg_options)
    try:
        if replacements:
            cfg.merge_from_dict(replacements)
        cfg.merge_from_dict({k: v for k, v in cfg_options.items() if k.rsplit('.', 1)[0] not in replacements
                             or not k.endswith('.type')})
    except (KeyError, IndexError, TypeError, ValueError) as err:
        raise ConfigError(f"--cfg-options {cfg_options!r} cannot be applied to this config "
                          f"({error_detail(err)}). A key path must follow the config's structure (list "
                          f"items by index, e.g. model.teachers.0.name); `mmtard config show CONFIG` "
                          f"prints it.") from None


def resolve_config(config: Union[str, os.PathLike, Config],
                   cfg_options: Optional[Union[Dict[str, Any], Sequence[str]]] = None) -> Config:
    """A config given as a path or as an object, with ``cfg_options`` (a dict, or ``['KEY=VALUE', ...]``
    as on the command line) applied and every component's options checked against what it accepts."""
    from .component_checks import check_component_options  # needs the registries: keep `load_config` light

    if isinstance(config, (str, os.PathLike)) and not str(config).strip():
        raise ConfigError('The config path is an empty string; pass a config file such as '
                          'configs/mmtard/mmtard_tiny-vit_tiny-clean-robust_pgd3-eps4_100it_shapes.py.')
    if not isinstance(config, (str, os.PathLike, Config)):
        raise ConfigError(f'config={config!r} must be a config file path or an mmengine Config, not a '
                          f'{type(config).__name__}.')
    if isinstance(cfg_options, (list, tuple)) and all(isinstance(o, str) for o in cfg_options):
        cfg_options = parse_cfg_options(cfg_options)
    elif cfg_options is not None and not isinstance(cfg_options, dict):
        raise ConfigError(f"cfg_options={cfg_options!r} must be a dict {{'model.attack.eps': 2}} or a list of "
                          f"'KEY=VALUE' strings.")
    if isinstance(config, Config):
        if cfg_options:
            merge_cfg_options(config, cfg_options)
    else:
        config = load_config(config, cfg_options)
    check_component_options(config.to_dict())
    return config


def with_random_weights(node: Any) -> Any:
    """A copy of a model config in which every encoder starts from random weights.

    For building real architectures where their weight files are not at hand (benchmarks, tests):
    ``pretrained`` and ``text_pretrained`` become None at any depth (every encoder reads None as
    "no weights").
    """
    if isinstance(node, dict):
        return {key: None if key in ('pretrained', 'text_pretrained') else with_random_weights(value)
                for key, value in node.items()}
    if isinstance(node, (list, tuple)):
        return type(node)(with_random_weights(v) for v in node)
    return node
