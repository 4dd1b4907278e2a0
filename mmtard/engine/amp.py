"""bfloat16 mixed-precision training: mmengine's AmpOptimWrapper without loss scaling, on GPU and CPU.

Under its autocast, the student's and teachers' matmuls and convolutions run in bf16; what must stay
fp32 does by construction in the models: zero-shot logits (``ZeroShotModel.zero_shot_logits``
disables autocast), hence every KL term and weighting, and the attack's perturbation, whose pixels
and gradients are fp32 tensors that autocast never casts.
"""
from __future__ import annotations

from typing import Any

import torch
from mmengine.optim import AmpOptimWrapper, OptimWrapper

from ..errors import ConfigError
from ..registry import OPTIM_WRAPPERS

#: What ``mmtard train --amp`` sets ``optim_wrapper.type`` to.
AMP_OPTIM_WRAPPER = 'BF16AmpOptimWrapper'


@OPTIM_WRAPPERS.register_module()
class BF16AmpOptimWrapper(AmpOptimWrapper):
    """mmengine's :class:`AmpOptimWrapper` fixed to bfloat16.

    bf16 has fp32's exponent range, so gradients cannot underflow and the loss scaler stays off;
    without it nothing is CUDA-specific, so the CPU trains in bf16 too (mmengine's own ``__init__``
    refuses CPUs because fp16 needs the CUDA scaler). Saving and loading keep AmpOptimWrapper's
    format (an empty ``loss_scaler`` entry).
    """

    def __init__(self, **kwargs: Any) -> None:
        if torch.cuda.is_available() and not torch.cuda.is_bf16_supported():
            raise ConfigError(f'{AMP_OPTIM_WRAPPER} (--amp) trains in bfloat16, which this GPU '
                              f'({torch.cuda.get_device_name()}) does not support; train without --amp.')
        OptimWrapper.__init__(self, **kwargs)  # skip AmpOptimWrapper.__init__: its CUDA check and fp16 scaler
        self._scale_update_param = None
        self.loss_scaler = torch.amp.GradScaler(enabled=False)
        self.cast_dtype = torch.bfloat16
