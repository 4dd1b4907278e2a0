"""Synthetic coloured shapes: the offline stand-in for image-text data (docs/offline_data.md section 4).

8 shapes x 8 colours give 64 classes named 'red circle' etc.; 13 colour-shape combinations never
appear in the 'seen' label space, so a model trained on 'seen' can be tested zero-shot on
'held_out' (each of their words was grounded in training, only the combination is new). Images are
rendered with vectorised numpy (20k in a few seconds) and optionally cached as ``.npz``.
"""
from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import ConfigError
from ..registry import DATASETS

SHAPES: Tuple[str, ...] = ('circle', 'square', 'triangle', 'diamond', 'cross', 'star', 'ring', 'hexagon')
#: Base RGB of each colour (jittered per image); hues are far apart, so colour stays recognisable.
COLOURS: Dict[str, Tuple[float, float, float]] = {
    'red': (0.90, 0.10, 0.10), 'green': (0.10, 0.80, 0.15), 'blue': (0.15, 0.30, 1.00),
    'yellow': (0.95, 0.90, 0.10), 'purple': (0.60, 0.15, 0.85), 'orange': (1.00, 0.55, 0.05),
    'white': (0.95, 0.95, 0.95), 'cyan': (0.10, 0.85, 0.90),
}
#: Fixed held-out combinations (two diagonals of the colour x shape grid): 13 of 64, no colour and no
#: shape held out more than twice, so every word keeps >= 6 training combinations.
HELD_OUT: Tuple[str, ...] = (
    'red circle', 'green square', 'blue triangle', 'yellow diamond', 'purple cross', 'orange star',
    'white ring', 'cyan hexagon', 'red diamond', 'green cross', 'blue star', 'yellow ring', 'purple hexagon')
ALL_CLASSES: Tuple[str, ...] = tuple(f'{c} {s}' for c in COLOURS for s in SHAPES)
CLASS_SELECTIONS: Dict[str, Tuple[str, ...]] = {
    'seen': tuple(n for n in ALL_CLASSES if n not in HELD_OUT),
    'held_out': tuple(n for n in ALL_CLASSES if n in HELD_OUT),
    'all': ALL_CLASSES,
}
TEMPLATES: Tuple[str, ...] = ('a photo of a {}.', 'a {} on a dark background.', 'a drawing of a {}.')
SPLITS: Tuple[str, ...] = ('train', 'val', 'test')
DEFAULT_NUM_SAMPLES: Dict[str, int] = {'train': 20000, 'val': 2000, 'test': 2000}
#: Bump when rendering changes, so stale caches are not reused.
RENDER_VERSION = 1
_BASE_SIZE = 32  # radii and noise are specified at 32 px and scaled with image_size
_RADIUS = (5.0, 11.0)
_SUPERSAMPLE = 2  # sub-pixel grid per axis for anti-aliased edges
_CHUNK = 1024


def _mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside test of ``shape`` in coordinates normalised by the radius (v points down)."""
    if shape == 'circle':
        return u * u + v * v <= 1.0
    if shape == 'square':
        return np.maximum(np.abs(u), np.abs(v)) <= 0.8
    if shape == 'triangle':  # apex up, base at v = 0.75
        return (v <= 0.75) & (np.abs(u) * 1.75 <= v + 1.0)
    if shape == 'diamond':
        return np.abs(u) + np.abs(v) <= 1.0
    if shape == 'cross':
        au, av = np.abs(u), np.abs(v)
        return ((au <= 0.33) & (av <= 1.0)) | ((av <= 0.33) & (au <= 1.0))
    if shape == 'star':  # five points; boundary radius moves linearly between 0.45 and 1 with angle
        phase = (np.arctan2(u, -v) * (5 / (2 * np.pi))) % 1.0
        return np.sqrt(u * u + v * v) <= 0.45 + 0.55 * np.abs(1.0 - 2.0 * phase)
    if shape == 'ring':
        r2 = u * u + v * v
        return (r2 <= 1.0) & (r2 >= 0.5 ** 2)
    if shape == 'hexagon':  # flat top, vertices at radius 1
        au, av = np.abs(u), np.abs(v)
        return (av <= 0.866) & (0.866 * au + 0.5 * av <= 0.866)
    raise ValueError(shape)


def render_shapes(colour_ids: np.ndarray, shape_ids: np.ndarray, image_size: int,
                  rng: np.random.Generator) -> Dict[str, np.ndarray]:
    """Render one image per (colour, shape) id pair: uint8 ``images`` (N, S, S, 3) and the
    ``radius`` (N,) of each shape in pixels at 32 px (for 'small' / 'large' captions)."""
    n, size = len(colour_ids), image_size
    scale = size / _BASE_SIZE
    radius = rng.uniform(*_RADIUS, n)
    r_px = radius * scale
    centre = rng.uniform(r_px[:, None], size - r_px[:, None], (n, 2)).astype(np.float32)
    r_px = r_px.astype(np.float32)
    palette = np.asarray(list(COLOURS.values()), dtype=np.float32)
    colour = np.clip(palette[colour_ids] + rng.normal(0, 0.06, (n, 3)), 0, 1) * rng.uniform(0.8, 1.0, (n, 1))
    colour = colour.astype(np.float32)
    background = rng.uniform(0.0, 0.15, (n, 3)).astype(np.float32)
    sub = (np.arange(size * _SUPERSAMPLE, dtype=np.float32) + 0.5) / _SUPERSAMPLE  # sub-pixel centres
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    for start in range(0, n, _CHUNK):
        part = slice(start, min(start + _CHUNK, n))
        m = part.stop - part.start
        u = (sub[None, None, :] - centre[part, 0, None, None]) / r_px[part, None, None]
        v = (sub[None, :, None] - centre[part, 1, None, None]) / r_px[part, None, None]
        u, v = np.broadcast_arrays(u, v)
        inside = np.zeros(u.shape, dtype=bool)
        for s, shape in enumerate(SHAPES):
            idx = np.flatnonzero(shape_ids[part] == s)
            if idx.size:
                inside[idx] = _mask(shape, u[idx], v[idx])
        # Coverage of each pixel by the shape, from the sub-pixel grid.
        alpha = inside.reshape(m, size, _SUPERSAMPLE, size, _SUPERSAMPLE).mean(axis=(2, 4), dtype=np.float32)
        alpha = alpha[..., None]
        pixels = background[part, None, None, :] * (1 - alpha) + colour[part, None, None, :] * alpha
        pixels += rng.standard_normal((m, size, size, 3), dtype=np.float32) * 0.05
        images[part] = np.clip(pixels * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return {'images': images, 'radius': radius.astype(np.float32)}


@DATASETS.register_module()
class ShapesDataset(Dataset):
    """Coloured shapes on a noisy dark background, labelled within one class selection.

    Args:
        split: 'train', 'val' or 'test'; each draws from its own random stream.
        classes: label space: 'seen' (51 classes), 'held_out' (13) or 'all' (64); labels index
            ``classnames`` of that selection and are balanced over it.
        num_samples: images in the split (default 20000 train, 2000 val / test).
        image_size: side in pixels; shapes and noise scale with it (specified at 32 px).
        seed: master seed; the same arguments give the same images.
        cache_dir: if given, images are rendered once and stored there as ``.npz``.
        return_caption: add a 'caption' (a template, sometimes with 'small' / 'large') to items,
            for contrastive pretraining.
        label_space: score the images of ``classes`` among a larger selection, e.g. held-out
            images among all 64 classes (``classes='held_out', label_space='all'``); default
            ``classes`` itself.
    """

    def __init__(self, split: str = 'train', classes: str = 'seen', num_samples: Optional[int] = None,
                 image_size: int = 32, seed: int = 0, cache_dir: Optional[str] = None,
                 return_caption: bool = False, label_space: Optional[str] = None) -> None:
        if split not in SPLITS:
            raise ConfigError(f'ShapesDataset split must be one of {", ".join(SPLITS)}, not {split!r}.')
        if classes not in CLASS_SELECTIONS:
            raise ConfigError(f'ShapesDataset classes must be one of {", ".join(CLASS_SELECTIONS)}, '
                              f'not {classes!r}.')
        self.split, self.classes, self.seed, self.image_size = split, classes, seed, image_size
        self.num_samples = DEFAULT_NUM_SAMPLES[split] if num_samples is None else int(num_samples)
        self.return_caption = return_caption
        label_space = classes if label_space is None else label_space
        if label_space not in CLASS_SELECTIONS or not set(CLASS_SELECTIONS[classes]) <= set(CLASS_SELECTIONS[label_space]):
            raise ConfigError(f'ShapesDataset label_space={label_space!r} must be a class selection that contains '
                              f'classes={classes!r}: one of {", ".join(CLASS_SELECTIONS)}.')
        self.classnames: List[str] = list(CLASS_SELECTIONS[classes])
        self.templates: List[str] = list(TEMPLATES)
        render_seq, caption_seq = np.random.SeedSequence(
            [seed, SPLITS.index(split), list(CLASS_SELECTIONS).index(classes)]).spawn(2)
        data = self._load_or_render(cache_dir, np.random.default_rng(render_seq))
        self.labels: np.ndarray = data['labels']
        self.radius: np.ndarray = data['radius']
        self._images = torch.from_numpy(data['images']).permute(0, 3, 1, 2).contiguous()
        self.captions = self._captions(np.random.default_rng(caption_seq))
        if label_space != classes:
            space = list(CLASS_SELECTIONS[label_space])
            self.labels = np.asarray([space.index(self.classnames[i]) for i in range(len(self.classnames))])[self.labels]
            self.classnames = space

    def _params(self) -> Dict[str, Any]:
        return {'version': RENDER_VERSION, 'split': self.split, 'classes': self.classes,
                'num_samples': self.num_samples, 'image_size': self.image_size, 'seed': self.seed}

    def cache_file(self, cache_dir: str) -> Path:
        """Cache path, keyed by every parameter that changes the images."""
        digest = hashlib.sha1(json.dumps(self._params(), sort_keys=True).encode()).hexdigest()[:12]
        return (Path(cache_dir).expanduser() / f'shapes_{self.split}_{self.classes}_{self.num_samples}_'
                f'{self.image_size}px_seed{self.seed}_{digest}.npz')

    def _load_or_render(self, cache_dir: Optional[str], rng: np.random.Generator) -> Dict[str, np.ndarray]:
        file = self.cache_file(cache_dir) if cache_dir else None
        if file is not None and file.is_file():
            try:
                with np.load(file) as cached:
                    return {k: cached[k] for k in ('images', 'labels', 'radius')}
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
                pass  # damaged outside mmtard (writes are atomic): render again and replace it
        labels = rng.permutation(np.arange(self.num_samples) % len(self.classnames))
        combos = [ALL_CLASSES.index(name) for name in self.classnames]
        combo = np.asarray(combos, dtype=np.int64)[labels]
        data = render_shapes(combo // len(SHAPES), combo % len(SHAPES), self.image_size, rng)
        data['labels'] = labels
        if file is not None:
            file.parent.mkdir(parents=True, exist_ok=True)
            tmp = file.with_name(f'{file.stem}.{os.getpid()}.tmp.npz')
            np.savez(tmp, **data)
            os.replace(tmp, file)  # atomic: parallel workers never read a half-written cache
        return data

    def _captions(self, rng: np.random.Generator) -> List[str]:
        template = rng.integers(len(self.templates), size=self.num_samples)
        use_size = rng.random(self.num_samples) < 0.5
        captions = []
        for label, radius, t, sized in zip(self.labels, self.radius, template, use_size):
            name = self.classnames[label]
            size_word = 'small' if radius <= 7.0 else 'large' if radius >= 9.0 else None
            if sized and size_word:
                name = f'{size_word} {name}'
            captions.append(self.templates[t].format(name))
        return captions

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, index: int) -> Dict[str, Any]:
        index = range(self.num_samples)[index]
        item = {'inputs': self._images[index].float().div_(255.), 'label': int(self.labels[index]), 'index': index}
        if self.return_caption:
            item['caption'] = self.captions[index]
        return item

    @property
    def metainfo(self) -> Dict[str, Any]:
        return {'classes': tuple(self.classnames), 'templates': tuple(self.templates), 'split': self.split,
                'class_selection': self.classes, 'image_size': self.image_size, 'colours': tuple(COLOURS),
                'shapes': SHAPES, 'held_out': HELD_OUT, 'dataset_type': type(self).__name__}
