"""DDP that also runs on CPU-only machines (gloo), where mmengine would pass GPU device ids."""
from __future__ import annotations

from typing import Any, Optional, Sequence

from mmengine.model import MMDistributedDataParallel
from torch import nn

from ..registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class DeviceAwareDDP(MMDistributedDataParallel):
    """mmengine's DDP wrapper, minus ``device_ids`` when the module lives on the CPU.

    mmengine always hands DDP ``device_ids=[LOCAL_RANK]``, which torch rejects for CPU modules;
    `mmtard train --launcher pytorch` selects this wrapper when no GPU is present.
    """

    def __init__(self, module: nn.Module, device_ids: Optional[Sequence[int]] = None, **kwargs: Any) -> None:
        on_cpu = all(p.device.type == 'cpu' for p in module.parameters())
        super().__init__(module=module, device_ids=None if on_cpu else device_ids, **kwargs)
