"""Let torch >= 2.6's safe loader (``weights_only=True``) read mmengine's own checkpoints.

mmengine 0.10.7 calls ``torch.load`` without ``weights_only``; since torch 2.6 that refuses the
few non-tensor objects mmengine pickles into every checkpoint (its ``HistoryBuffer`` of logged
values and the numpy arrays inside), so resuming fails. Rather than switching the safety check off,
we allow-list exactly those types: everything else in a checkpoint must still be plain tensors and
containers.
"""
from __future__ import annotations

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

_state = {'done': False}


def _numpy_globals() -> list:
    reconstruct = getattr(np, '_core', np.core).multiarray._reconstruct  # numpy 2 moved ``core``
    scalar = getattr(np, '_core', np.core).multiarray.scalar
    dtype_classes = [type(np.dtype(name)) for name in
                     ('float64', 'float32', 'float16', 'int64', 'int32', 'int8', 'uint8', 'bool')]
    return [reconstruct, scalar, np.ndarray, np.dtype, *dtype_classes]


def allow_mmengine_checkpoint_globals() -> None:
    """Register mmengine's checkpoint types as safe for ``torch.load`` (idempotent)."""
    if _state['done'] or not hasattr(torch.serialization, 'add_safe_globals'):
        return
    torch.serialization.add_safe_globals([HistoryBuffer, *_numpy_globals()])
    _state['done'] = True
