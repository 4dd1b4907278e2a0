"""ImageNet-style class folders (``root/[split/]<class>/<image>``): the layout of ImageNet,
its variants (ImageNet-R, -Sketch, -A, -V2) and of most user data, so one loader covers them."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch

from ..errors import ConfigError, DatasetNotFoundError
from ..registry import DATASETS
from .base import ClassificationDataset
from .preprocess import load_image
from .sampling import balanced_subset
from .templates import ClassNamesSpec, folder_classnames, get_templates

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp')


def _layout_hint(path: Path) -> str:
    return (f'The expected layout is one sub-folder per class holding that class\'s images, e.g. '
            f'{path}/<class_name>/<image>.jpg ({", ".join(IMAGE_EXTENSIONS)}); ImageNet-style folders '
            f'named by WordNet id (n01440764, ...) are named after CLIP\'s ImageNet class names.')


@DATASETS.register_module()
class ImageFolderDataset(ClassificationDataset):
    """Images in class folders; labels follow the sorted folder names.

    Args:
        root: dataset folder.
        split: optional sub-folder of ``root`` (e.g. 'train', 'val').
        image_size: output side; shorter side resized (bicubic) then center-cropped.
        classnames: None (folder names, or CLIP's ImageNet names for wnid folders), a folder -> name
            dict, a JSON file holding one, or a bundled dataset's name ('caltech101', 'eurosat', whose
            release folders it maps); a list only where it provably follows the folders
            (:func:`~mmtard.datasets.templates.folder_classnames`).
        templates: a template-set name ('openai_imagenet', 'simple', ...), a bundled dataset's name,
            or a list.
        max_samples: keep a seeded, class-balanced subset of this size (evaluation protocols); with
            ``image_list``, the first ``max_samples`` of the list.
        sample_seed: seed of that subset.
        image_list: a text file naming the images to use, in that order, one ``<class folder>/<file>``
            per line relative to the split folder, e.g. RobustBench's ``imagenet_test_image_ids.txt``
            (the 5000 ImageNet val images the MMT-ARD release and RobustBench evaluate on).
    """

    def __init__(self, root: str, split: Optional[str] = None, image_size: int = 224,
                 classnames: ClassNamesSpec = None,
                 templates: Union[str, List[str]] = 'openai_imagenet',
                 max_samples: Optional[int] = None, sample_seed: int = 0,
                 image_list: Optional[str] = None) -> None:
        path = Path(root).expanduser() / split if split else Path(root).expanduser()
        if not path.is_dir():
            raise DatasetNotFoundError(f'Image folder dataset not found: {path} does not exist or is not a '
                                       f'folder. {_layout_hint(path)} Check root= and split= in the config.')
        self.root = path
        self.image_size = image_size
        self.folders = sorted(e.name for e in os.scandir(path) if e.is_dir() and not e.name.startswith('.'))
        samples = self._scan(path, self.folders)
        if not samples:
            raise DatasetNotFoundError(f'Image folder dataset at {path} holds no images in class sub-folders. '
                                       f'{_layout_hint(path)}')
        self.classnames = folder_classnames(self.folders, classnames, str(path))
        self.templates = get_templates(templates)
        if image_list is not None:
            listed = self._listed(path, samples, image_list)
            self.sample_indices = listed[:max_samples] if max_samples is not None else listed
        else:
            self.sample_indices = balanced_subset([label for _, label in samples], max_samples, sample_seed)
        self.samples: List[Tuple[str, int]] = [samples[i] for i in self.sample_indices]

    @staticmethod
    def _listed(path: Path, samples: Sequence[Tuple[str, int]], image_list: str) -> List[int]:
        """Indices into ``samples`` of the images ``image_list`` names, in its order."""
        list_file = Path(image_list).expanduser()
        if not list_file.is_file():
            raise ConfigError(f'image_list={image_list!r} is not a file. Give a text file with one '
                              f'<class folder>/<image file> per line, relative to {path}.')
        index = {os.path.relpath(file, path).replace(os.sep, '/'): i for i, (file, _) in enumerate(samples)}
        names = [line.strip() for line in list_file.read_text(encoding='utf-8').splitlines() if line.strip()]
        missing = [name for name in names if name not in index]
        if missing or not names:
            raise DatasetNotFoundError(
                f'The image list {list_file} names {len(missing)} of its {len(names)} images that are not '
                f'images under {path}, e.g. {missing[:3]!r}. Each line must be <class folder>/<image file> '
                f'relative to the split folder (root= and split= in the config).' if names else
                f'The image list {list_file} is empty; it must name one <class folder>/<image file> per line.')
        return [index[name] for name in names]

    @staticmethod
    def _scan(path: Path, folders: Sequence[str]) -> List[Tuple[str, int]]:
        samples = []
        for label, folder in enumerate(folders):
            for dirpath, dirnames, filenames in os.walk(path / folder, followlinks=True):
                dirnames.sort()
                samples.extend((os.path.join(dirpath, name), label) for name in sorted(filenames)
                               if name.lower().endswith(IMAGE_EXTENSIONS))
        return samples

    @property
    def targets(self) -> List[int]:
        return [label for _, label in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, index: int) -> Tuple[torch.Tensor, int]:
        file, label = self.samples[index]
        return load_image(file, self.image_size), label

    @property
    def metainfo(self) -> Dict[str, object]:
        return {**super().metainfo, 'root': str(self.root)}
