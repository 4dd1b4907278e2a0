"""Weight precisions an encoder or teacher can be stored in, by config name."""
from __future__ import annotations

import torch

from ..errors import ConfigError

#: Config name -> weight dtype. Outputs are float32 whatever the weights are.
PRECISIONS = {'fp32': torch.float32, 'bf16': torch.bfloat16, 'fp16': torch.float16}


def precision_dtype(precision: str, owner: str) -> torch.dtype:
    """The dtype of ``precision``, or a ConfigError naming ``owner`` (e.g. 'OpenCLIPEncoder')."""
    if precision not in PRECISIONS:
        raise ConfigError(f'{owner} precision={precision!r} is not one of {sorted(PRECISIONS)}: '
                          f"'fp32' (default), 'bf16' (half the memory, fp32's range) or 'fp16'.")
    return PRECISIONS[precision]
