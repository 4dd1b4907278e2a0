"""`mmtard eval`'s command-line settings (CLIP_benchmark / open_clip conventions) and how they override a
config's ``evaluation`` section: a flag given wins over the config, and everything left out comes
from the config (or, without one, from the defaults and the preset)."""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from ..component_checks import check_component_options
from ..errors import ComponentNameClash, ConfigError, did_you_mean
from ..evaluation.dataset_names import CONFIG_DATA_ROOT, dataset_entries, template_option
from ..registry import ATTACKS
from ..value_checks import check_path, check_positive_int, check_positive_number, check_text


def command_line_attacks() -> Dict[str, Dict[str, Any]]:
    """``--attack`` NAME -> its ``evaluation.attack`` config, from the ``command_line_names`` of every
    registered attack (built-ins first, then plugins')."""
    names: Dict[str, Dict[str, Any]] = {}
    for kind, attack in ATTACKS.registered().items():
        for name, options in getattr(attack, 'command_line_names', {}).items():
            if name in names:
                raise ComponentNameClash(
                    f"--attack {name!r} is claimed by the attacks {names[name]['type']!r} (distribution "
                    f"{ATTACKS.owner(names[name]['type'])!r}) and {kind!r} (distribution {ATTACKS.owner(kind)!r}). "
                    f"Rename it in one of their command_line_names, or uninstall one of the distributions.")
            names[name] = {'type': kind, **options}
    return names


@dataclass
class EvalFlags:
    """Everything `mmtard eval` can take from the command line instead of a config (None / empty: not given)."""

    model: Optional[str] = None
    pretrained: Optional[str] = None
    text_tower: Optional[str] = None
    text_pretrained: Optional[str] = None
    datasets: Sequence[str] = field(default_factory=tuple)
    data_root: str = CONFIG_DATA_ROOT
    eps: Sequence[float] = field(default_factory=tuple)
    attack: Optional[str] = None
    n_iter: Optional[int] = None
    n_clean: Optional[int] = None
    n_robust: Optional[int] = None
    classnames: Optional[str] = None
    templates: Optional[str] = None
    logit_scale: Optional[float] = None

    def __post_init__(self) -> None:
        """Refuse values of the wrong type at once: a string is a sequence, so eps='16' would evaluate at
        eps 1 and 6 and datasets='name' per character."""
        for name in ('model', 'text_tower', 'attack'):
            check_text(getattr(self, name), f'EvalFlags {name}', optional=True)
        for name in ('pretrained', 'text_pretrained', 'classnames', 'templates', 'data_root'):
            value = check_path(getattr(self, name), f'EvalFlags {name}', optional=True)
            setattr(self, name, None if value is None else str(value))
        if isinstance(self.datasets, (str, os.PathLike)) or not isinstance(self.datasets, (list, tuple)):
            raise ConfigError(f'EvalFlags datasets={self.datasets!r} must be a list of dataset names or paths, '
                              f'e.g. datasets=[{str(self.datasets)!r}].')
        self.datasets = tuple(str(check_path(d, 'EvalFlags datasets item')) for d in self.datasets)
        if isinstance(self.eps, (str, int, float)) or not isinstance(self.eps, (list, tuple)) or not all(
                isinstance(e, (int, float)) and not isinstance(e, bool) for e in self.eps):
            raise ConfigError(f'EvalFlags eps={self.eps!r} must be a list of numbers in 1/255 units, e.g. eps=[1, 2, 4] '
                              f'(eps=[16] for 16/255).')
        for name in ('n_iter', 'n_clean', 'n_robust'):
            if getattr(self, name) is not None:
                check_positive_int(getattr(self, name), f'EvalFlags {name}')
        if self.logit_scale is not None:
            self.logit_scale = check_positive_number(self.logit_scale, 'logit_scale',
                                                     hint="On the command line it is --logit-scale (CLIP's is 100).")

    @property
    def names_model(self) -> bool:
        """Whether the command line names the evaluated model (then the config's model is not built)."""
        return self.model is not None or self.pretrained is not None

    def evaluation_section(self, section: Optional[Mapping[str, Any]], preset: Optional[str],
                           cfg_options: Optional[Mapping[str, Any]] = None) -> Tuple[Dict[str, Any], Optional[str]]:
        """The config's ``evaluation`` section with these flags applied, and the preset to resolve it
        with: budgets given as flags beat ``--preset``, which then only fills in the rest. The command
        line's ``-o evaluation.attack.<option>`` (``cfg_options``) still applies to the attack ``--attack``
        picks; an ``-o`` that ``--preset`` would silently override is refused."""
        from ..evaluation.spec import BUDGET_KEYS, DEFAULTS

        options = dict(cfg_options or {})
        overridden = [key for key in options if key in {f'evaluation.{b}' for b in BUDGET_KEYS}]
        if preset is not None and overridden:
            raise ConfigError(f'-o {overridden[0]}=... would change nothing: --preset {preset} sets every budget. '
                              f'Use -o evaluation.preset={preset} instead of --preset (the config\'s own budgets, '
                              f'and -o, then win over the preset\'s), or the --eps / --n-clean / --n-robust flags.')
        attack_options = {key[len('evaluation.attack.'):]: value for key, value in options.items()
                          if key.startswith('evaluation.attack.')}

        result = copy.deepcopy(section.to_dict() if hasattr(section, 'to_dict') else dict(section or {}))
        if self.datasets:
            result['datasets'] = dataset_entries(self.datasets, self.data_root, self.classnames, self.templates)
        elif self.classnames is not None or self.templates is not None:
            entries = [entry if 'dataset' in entry else {'dataset': entry} for entry in result.get('datasets', [])]
            if not entries:
                raise ConfigError('--classnames / --templates apply to the datasets evaluated: give --dataset too.')
            for entry in entries:
                if self.classnames is not None:
                    entry['classnames'] = self.classnames
                if self.templates is not None:
                    entry['templates'] = template_option(self.templates)
            result['datasets'] = entries
        budgets = {key: value for key, value in (('eps', list(self.eps)), ('n_clean', self.n_clean),
                                                 ('n_robust', self.n_robust)) if value not in (None, [])}
        if budgets:
            if preset is not None:
                result['preset'], preset = preset, None
            result.update(budgets)
        if self.logit_scale is not None:
            result['logit_scale'] = self.logit_scale
        if self.attack is not None:
            choices = command_line_attacks()
            if self.attack not in choices:
                raise ConfigError(f'--attack {self.attack!r} names no registered attack.'
                                  f'{did_you_mean(self.attack, choices)} Choose one of {", ".join(choices)} '
                                  f'(`mmtard list attacks` shows which attack each name picks).')
            result['attack'] = {**choices[self.attack], **attack_options}  # -o tunes the attack --attack picks
            check_component_options(result['attack'], 'evaluation.attack')
        if self.n_iter is not None:
            attack = dict(result.get('attack') or DEFAULTS['attack'])
            kind = attack.get('type', DEFAULTS['attack']['type'])  # options without a type tune the default
            key = getattr(ATTACKS.get(kind) if isinstance(kind, str) else kind, 'iterations_option', None)
            if key is None:
                raise ConfigError(f"--n-iter: the attack {kind!r} declares no iteration option (iterations_option); "
                                  f"set its budget with -o evaluation.attack.<option>=N.")
            attack[key] = self.n_iter
            result['attack'] = attack
        return result, preset
