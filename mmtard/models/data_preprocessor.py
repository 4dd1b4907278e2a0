"""Moves a batch to the device, keeping what only the host needs on the host."""
from __future__ import annotations

from typing import Any, Dict

import torch
from mmengine.model import BaseDataPreprocessor

from ..registry import MODELS


@MODELS.register_module()
class PixelDataPreprocessor(BaseDataPreprocessor):
    """Pixels and labels go to the device (non-blocking); dataset indices stay on the CPU.

    Indices key host-side caches (e.g. teacher outputs), so reading them must not synchronise with
    the GPU. uint8 images are scaled to [0,1]; normalisation is the models' own business.
    """

    def __init__(self, non_blocking: bool = True) -> None:
        super().__init__(non_blocking=non_blocking)

    def forward(self, data: Dict[str, Any], training: bool = False) -> Dict[str, Any]:
        index = data.get('index')
        moved = self.cast_data({k: v for k, v in data.items() if k != 'index'})
        inputs = moved['inputs']
        if inputs.dtype == torch.uint8:
            moved['inputs'] = inputs.float().div_(255.0)
        if index is not None:
            moved['index'] = index
        return moved
