"""A config whose formatted text is computed once per content.

mmengine formats a config's text with yapf each time it is asked for it (``Config.pretty_text``,
0.7 s for a demo student's config on one core), and a training run asks five times: the environment
log, the work dir's copy, the visualizer's copy, the runtime info and the checkpoint. The text
depends only on the config's content, so it is kept, keyed by that content.
"""
from __future__ import annotations

import copy
from typing import Dict

from mmengine.config import Config

_FORMATTED: Dict[str, str] = {}
_KEPT = 16  # texts kept per process (a test session builds hundreds of configs)


class FormattedOnceConfig(Config):
    """``Config`` with its formatted text kept per content (a changed value formats anew)."""

    @property
    def pretty_text(self) -> str:
        key = f'{self._format_python_code}:{self._cfg_dict.to_dict()!r}'
        text = _FORMATTED.get(key)
        if text is None:
            if len(_FORMATTED) >= _KEPT:
                _FORMATTED.clear()
            text = _FORMATTED[key] = super().pretty_text
        return text


def formatted_once(cfg: Config) -> Config:
    """A copy of ``cfg`` that formats its text once per content."""
    copied = copy.deepcopy(cfg)
    object.__setattr__(copied, '__class__', FormattedOnceConfig)  # Config's own __setattr__ sets values
    return copied
