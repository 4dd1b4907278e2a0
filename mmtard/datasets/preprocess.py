"""Bring images to model resolution before they reach the model.

Attacks perturb the tensor a dataset returns, so resizing must happen here (not inside the model):
the eps-ball is then defined on the pixels the model actually sees.
"""
from __future__ import annotations

import os
from typing import IO, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.transforms import functional as TF
from torchvision.transforms import InterpolationMode

from ..errors import DatasetReadError, error_detail


#: PIL modes of one channel of more than 8 bits: 16-bit PNG/TIFF greys load as one of these, and PIL's
#: convert('RGB') clips their values at 255 (a 16-bit mid-grey would become white).
WIDE_GREY_MODES = ('I', 'I;16', 'I;16B', 'I;16L', 'I;16N')


def _wide_grey(image: Image.Image) -> torch.Tensor:
    """A 16-bit (or 32-bit float) grey image as float32 (3, H, W) in [0,1], scaled by its bit depth
    (65535 for integer modes: PIL loads 16-bit PNGs as 'I' or 'I;16'; 1 for float mode 'F')."""
    pixels = np.asarray(image, dtype=np.float32)
    full_scale = 1.0 if image.mode == 'F' else 65535.0
    return torch.from_numpy(pixels / full_scale).clamp_(0., 1.).expand(3, -1, -1)


def to_rgb(image: Image.Image) -> Union[Image.Image, torch.Tensor]:
    """An RGB PIL image, or for wide grey images (16-bit, float) a float tensor in [0,1]; a palette
    image with transparency goes through RGBA (PIL warns otherwise), alpha is dropped as CLIP does."""
    if image.mode in WIDE_GREY_MODES or image.mode == 'F':
        return _wide_grey(image)
    if image.mode == 'P' and 'transparency' in image.info:
        image = image.convert('RGBA')
    return image.convert('RGB')


def resize_center_crop(image: Image.Image, image_size: int) -> torch.Tensor:
    """PIL image -> float32 (3, image_size, image_size) in [0,1]: shorter side to
    ``image_size`` (bicubic, antialiased), then center crop, like CLIP's preprocessing."""
    image = to_rgb(image)
    image = TF.resize(image, image_size, interpolation=InterpolationMode.BICUBIC, antialias=True)
    image = TF.center_crop(image, [image_size, image_size])
    if isinstance(image, torch.Tensor):
        return image.clamp(0., 1.).contiguous()  # bicubic overshoots
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


#: Smallest image side accepted: resized to model resolution, a smaller image is a few flat blocks of
#: colour (a placeholder or a broken export), nothing a model could classify. MNIST (28 px) passes.
MIN_IMAGE_SIDE = 8


def load_image(file: Union[str, os.PathLike, IO[bytes]], image_size: int, name: Optional[str] = None) -> torch.Tensor:
    """Read an image file (or an open binary stream, e.g. a tar member's bytes, called ``name``)
    through :func:`resize_center_crop`; a file that is not a readable image is an error naming it,
    not a PIL traceback from a data-loader worker."""
    name = name or str(file)
    try:
        with Image.open(file) as image:
            if min(image.size) < MIN_IMAGE_SIDE:
                raise DatasetReadError(
                    f'The image {name!r} is {image.size[0]}x{image.size[1]} px: below {MIN_IMAGE_SIDE} px a '
                    f'side, resized to {image_size} px it is flat blocks of colour, not a picture. It is a '
                    f'placeholder or a broken export; replace it, or delete it from the dataset.')
            return resize_center_crop(image, image_size)
    except (OSError, ValueError) as err:  # PIL.UnidentifiedImageError and truncated files are OSErrors
        raise DatasetReadError(f'The image {name!r} cannot be read ({error_detail(err)}). It is '
                               f'truncated or not an image; replace it, or delete it from the dataset.') from None
