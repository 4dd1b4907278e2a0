"""Bring images to model resolution before they reach the model.

Attacks perturb the tensor a dataset returns, so resizing must happen here (not inside the model):
the eps-ball is then defined on the pixels the model actually sees.
"""
from __future__ import annotations

import os
from typing import Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.transforms import functional as TF
from torchvision.transforms import InterpolationMode

from ..errors import DatasetReadError, error_detail


def resize_center_crop(image: Image.Image, image_size: int) -> torch.Tensor:
    """PIL image -> float32 (3, image_size, image_size) in [0,1]: shorter side to
    ``image_size`` (bicubic, antialiased), then center crop, like CLIP's preprocessing."""
    image = image.convert('RGB')
    image = TF.resize(image, image_size, interpolation=InterpolationMode.BICUBIC, antialias=True)
    image = TF.center_crop(image, [image_size, image_size])
    return TF.pil_to_tensor(image).float().div_(255.)


def resize_batch(images: np.ndarray, image_size: int) -> torch.Tensor:
    """uint8 (N, H, W, C) square images -> float32 (N, 3, image_size, image_size) in [0,1], bicubic
    and clamped (bicubic overshoots); grey images are repeated to RGB."""
    batch = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.)
    if batch.shape[1] == 1:
        batch = batch.expand(-1, 3, -1, -1)
    if batch.shape[-2:] != (image_size, image_size):
        batch = F.interpolate(batch, size=(image_size, image_size), mode='bicubic', antialias=True,
                              align_corners=False).clamp_(0., 1.)
    return batch.contiguous()


def load_image(file: Union[str, os.PathLike], image_size: int) -> torch.Tensor:
    """Read an image file through :func:`resize_center_crop`; a file that is not a readable image
    is an error naming it, not a PIL traceback from a data-loader worker."""
    try:
        with Image.open(file) as image:
            return resize_center_crop(image, image_size)
    except (OSError, ValueError) as err:  # PIL.UnidentifiedImageError and truncated files are OSErrors
        raise DatasetReadError(f'The image {str(file)!r} cannot be read ({error_detail(err)}). It is '
                               f'truncated or not an image; replace it, or delete it from the dataset.') from None
