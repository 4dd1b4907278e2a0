"""A fixed set of augmented views per image, so a frozen teacher's outputs survive augmentation.

Random augmentation makes every epoch's pixels new, so a clean teacher's outputs could never be
reused. Fast knowledge-distillation methods store the teacher's outputs per crop instead: here each
image has ``views`` augmented views (random-resized crop and flip, fixed by seed, image and view),
and every epoch draws one of them. An item's ``index`` names the view (``image * views + view``),
so MMTARD's clean-teacher cache (``cache_clean_teacher_outputs=True``) runs the teacher once per
view and reuses its output in every later epoch: with ``views=1`` from the second epoch on.
"""
from __future__ import annotations

import hashlib
import math
from typing import Any, Dict, Sequence, Union

import torch
from torch.utils.data import Dataset
from torchvision.transforms import functional as TF

from ..errors import ConfigError
from ..registry import DATASETS
from ..value_checks import check_positive_int


@DATASETS.register_module()
class FixedViewsDataset(Dataset):
    """Wrap a classification dataset; item i is one of its ``views`` fixed augmented views, drawn at random.

    Args:
        dataset: the wrapped dataset (config or object) with items ``{'inputs', 'label', ...}``.
        views: augmented views per image (each costs one teacher output in the cache).
        scale, ratio: area fraction and aspect-ratio range of the random-resized crop.
        flip: also flip horizontally with probability 1/2.
        seed: fixes every view; change it for another set.
    """

    def __init__(self, dataset: Union[dict, Dataset], views: int = 4, scale: Sequence[float] = (0.5, 1.0),
                 ratio: Sequence[float] = (3 / 4, 4 / 3), flip: bool = True, seed: int = 0) -> None:
        self.views = check_positive_int(views, 'FixedViewsDataset views')
        if not (len(scale) == 2 and 0 < scale[0] <= scale[1] <= 1 and len(ratio) == 2 and 0 < ratio[0] <= ratio[1]):
            raise ConfigError(f'FixedViewsDataset needs 0 < scale[0] <= scale[1] <= 1 and 0 < ratio[0] <= ratio[1], '
                              f'got scale={tuple(scale)}, ratio={tuple(ratio)}.')
        self.dataset = DATASETS.build(dataset) if isinstance(dataset, dict) else dataset
        self.scale, self.ratio, self.flip, self.seed = tuple(scale), tuple(ratio), bool(flip), int(seed)
        self.classnames = list(self.dataset.classnames)
        self.templates = list(self.dataset.templates)
        self.image_size = self.dataset.image_size

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        return self.fixed_view(index, int(torch.randint(self.views, ())))

    def fixed_view(self, position: int, view: int) -> Dict[str, Any]:
        """The item of image ``position`` as training gets it when it draws ``view``."""
        item = dict(self.dataset[position])
        image = int(item.get('index', position))
        item['inputs'] = self.view(item['inputs'], image, view)
        item['index'] = image * self.views + view
        return item

    def view(self, pixels: torch.Tensor, image: int, view: int) -> torch.Tensor:
        """View ``view`` of ``image`` (C, H, W): the same crop and flip every time it is drawn."""
        key = hashlib.blake2b(f'{self.seed}:{image}:{view}'.encode(), digest_size=4).digest()
        generator = torch.Generator().manual_seed(int.from_bytes(key, 'little'))  # its seed keeps 32 bits

        def uniform(low: float, high: float) -> float:
            return low + (high - low) * float(torch.rand((), generator=generator))

        height, width = pixels.shape[-2:]
        area = height * width * uniform(*self.scale)
        log_ratio = uniform(math.log(self.ratio[0]), math.log(self.ratio[1]))
        crop_w = min(width, max(1, round(math.sqrt(area * math.exp(log_ratio)))))
        crop_h = min(height, max(1, round(math.sqrt(area / math.exp(log_ratio)))))
        top = int(torch.randint(height - crop_h + 1, (), generator=generator))
        left = int(torch.randint(width - crop_w + 1, (), generator=generator))
        out = TF.resized_crop(pixels, top, left, crop_h, crop_w, [height, width], antialias=True).clamp_(0, 1)
        if self.flip and float(torch.rand((), generator=generator)) < 0.5:
            out = TF.hflip(out)
        return out

    @property
    def metainfo(self) -> Dict[str, Any]:
        return {**self.dataset.metainfo, 'views': self.views}
