"""Write small datasets in CLIP_benchmark's webdataset layout, as its converter lays them out."""
from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
from PIL import Image


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def write_wds(root: Path, images: Sequence[np.ndarray], labels: Optional[Sequence[int]] = None,
              classnames: Optional[List[str]] = None, templates: Optional[List[str]] = None,
              captions: Optional[Sequence[List[str]]] = None, per_shard: int = 4, image_format: str = 'png',
              split: str = 'test') -> Path:
    """``root/split/{0..n-1}.tar`` with ``per_shard`` samples each (keys s0000000, ...), the image
    under ``image_format``, the class under 'cls' or the captions under 'txt'; the text files beside."""
    (root / split).mkdir(parents=True, exist_ok=True)
    shards = [range(i, min(i + per_shard, len(images))) for i in range(0, len(images), per_shard)]
    for s, indices in enumerate(shards):
        with tarfile.open(root / split / f'{s}.tar', 'w') as tar:
            for i in indices:
                buffer = io.BytesIO()
                Image.fromarray(np.asarray(images[i], dtype=np.uint8)).save(buffer, format=image_format)
                _add(tar, f's{i:07d}.{image_format}', buffer.getvalue())
                if labels is not None:
                    _add(tar, f's{i:07d}.cls', str(int(labels[i])).encode())
                if captions is not None:
                    _add(tar, f's{i:07d}.txt', '\n'.join(captions[i]).encode())
    (root / split / 'nshards.txt').write_text(f'{len(shards)}\n')
    if classnames is not None:
        (root / 'classnames.txt').write_text('\n'.join(classnames) + '\n')
    if templates is not None:
        (root / 'zeroshot_classification_templates.txt').write_text('\n'.join(templates) + '\n')
    if captions is not None:
        (root / 'dataset_type.txt').write_text('retrieval\n')
    return root
