"""What is registered, where it comes from, and what it is for (backs `mmtard list`)."""
from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass
from typing import List, Optional

from .errors import UnknownComponentError, did_you_mean
from .plugins import ensure_plugins_loaded
from .registry import PUBLIC_REGISTRIES


@dataclass(frozen=True)
class ComponentInfo:
    registry: str
    name: str
    distribution: str
    description: str
    module: str

    def as_dict(self) -> dict:
        return asdict(self)


def _summary(obj: object) -> str:
    doc = inspect.getdoc(obj) or ''
    return doc.strip().splitlines()[0] if doc.strip() else ''


def list_components(registry: Optional[str] = None) -> List[ComponentInfo]:
    """Every component of ``registry`` (a short name such as ``teachers``), or of all registries.

    Only components registered in mmtard's scope are listed (mmengine's own are inherited, not ours).
    """
    ensure_plugins_loaded()
    if registry is not None and registry not in PUBLIC_REGISTRIES:
        singular = {name.rstrip('s'): name for name in PUBLIC_REGISTRIES}
        if registry in singular:
            registry = singular[registry]
        else:
            raise UnknownComponentError(
                f"There is no registry called {registry!r}.{did_you_mean(registry, PUBLIC_REGISTRIES)} "
                f"Registries: {', '.join(PUBLIC_REGISTRIES)}.")
    selected = [registry] if registry else list(PUBLIC_REGISTRIES)
    rows = []
    for short in selected:
        reg = PUBLIC_REGISTRIES[short]
        for name in sorted(reg.module_dict):
            obj = reg.module_dict[name]
            description = _summary(obj)
            picked_by = list(getattr(obj, 'command_line_names', None) or ())  # an attack's `mmtard eval --attack` names
            if picked_by:
                description += f" (--attack {', '.join(picked_by)})"
            rows.append(ComponentInfo(short, name, reg.owner(name), description,
                                      f'{obj.__module__}.{getattr(obj, "__qualname__", name)}'))
    return rows
