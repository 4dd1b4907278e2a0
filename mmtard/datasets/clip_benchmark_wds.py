"""CLIP_benchmark's webdataset layout (the ``clip-benchmark/wds_<name>`` repositories): what users of
robust CLIP have on disk, and what the MMT-ARD release and RobustVLM evaluate zero-shot on.

A dataset folder holds ``<split>/nshards.txt`` (the number of shards n), ``<split>/0.tar`` ...
``<split>/{n-1}.tar``, and for classification ``classnames.txt`` and
``zeroshot_classification_templates.txt`` (one per line, templates with ``{c}``);
``dataset_type.txt`` says ``retrieval`` for caption datasets. A sample is the run of consecutive
tar members sharing a key (the member name up to its first dot): its image under ``webp``,
``png``, ``jpg`` or ``jpeg`` (the first present), its class index under ``cls``, its captions
under ``txt`` (one per line). The shards are read with :mod:`tarfile` (an index of member offsets
built once, then random access), samples in shard order.

:func:`clip_benchmark_selection` gives the samples CLIP_benchmark's ``--n_samples`` evaluates
(its seeded shuffle buffer over the shard stream), so mmtard can attack the release's very samples.
"""
from __future__ import annotations

import io
import random
import string
import tarfile
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from torch.utils.data import Dataset

from ..errors import ConfigError, DatasetNotFoundError, DatasetReadError, error_detail
from ..registry import DATASETS
from .base import ClassificationDataset
from .preprocess import load_image
from .templates import get_templates

#: The image keys CLIP_benchmark's loader accepts, in the order it picks them.
IMAGE_KEYS = ('webp', 'png', 'jpg', 'jpeg')
NSHARDS_FILE = 'nshards.txt'
CLASSNAMES_FILE = 'classnames.txt'
TEMPLATES_FILE = 'zeroshot_classification_templates.txt'
TYPE_FILE = 'dataset_type.txt'


def _layout(root: Path, split: str) -> str:
    return (f'CLIP_benchmark\'s webdataset layout is {root}/{split}/{NSHARDS_FILE} (the number of shards n), '
            f'{root}/{split}/0.tar ... {{n-1}}.tar, and for classification {root}/{CLASSNAMES_FILE} and '
            f'{root}/{TEMPLATES_FILE}, as in the clip-benchmark/wds_<name> repositories on the Hugging Face hub.')


def is_clip_benchmark_folder(path: Path, split: str = 'test') -> bool:
    return (Path(path) / split / NSHARDS_FILE).is_file()


def dataset_kind(root: Union[str, Path]) -> str:
    """'classification', 'retrieval' or 'multilabel', as the folder's dataset_type.txt says (none: classification)."""
    type_file = Path(root) / TYPE_FILE
    return _read_text(type_file).strip().lower() if type_file.is_file() else 'classification'


def _read_text(path: Path) -> str:
    """A metadata file's text. CLIP_benchmark writes UTF-8; other bytes (a file re-saved in another
    encoding, or damaged) are an error naming the file and line, not a UnicodeDecodeError."""
    try:
        return path.read_bytes().decode('utf-8-sig')
    except UnicodeDecodeError as err:  # err.object: the bytes after a byte-order mark
        line = err.object[:err.start].count(b'\n') + 1
        raise DatasetReadError(
            f'{path} is not UTF-8 text (byte {err.object[err.start]:#x} on line {line}), as CLIP_benchmark writes '
            f'it: it was re-saved in another encoding or is damaged. Download it again from the dataset\'s '
            f'clip-benchmark/wds_<name> repository, or convert it to UTF-8, e.g. iconv -f latin-1 -t utf-8 '
            f'{path.name} > fixed.txt, then move fixed.txt over it.') from None


@dataclass
class TarSample:
    """Where one sample's image lies in its shard, and its label or captions."""

    shard: int
    key: str
    image_offset: int
    image_size: int
    label: Optional[int]
    captions: List[str]


def _split_name(member_name: str) -> tuple:
    """(key, extension): webdataset's split of a member name at the first dot of its file name."""
    folder, _, file = member_name.rpartition('/')
    stem, _, extension = file.partition('.')
    return (f'{folder}/{stem}' if folder else stem), extension


def _read_shard(path: Path, shard: int) -> List[TarSample]:
    """The samples of one tar, in order; a sample without an image, or a tar cut short, is an error naming it."""
    samples: List[TarSample] = []
    try:
        with tarfile.open(path, 'r:') as tar:
            group: Dict[str, Any] = {}
            key = None
            for member in tar:
                if not member.isfile():
                    continue
                member_key, extension = _split_name(member.name)
                if member_key != key:
                    if key is not None:
                        samples.append(_sample(path, shard, key, group))
                    key, group = member_key, {}
                if extension in IMAGE_KEYS:
                    group[extension] = (member.offset_data, member.size)
                elif extension in ('cls', 'txt'):
                    group[extension] = tar.extractfile(member).read().decode('utf-8')
            # tarfile stops without a word at a header cut short, which leaves the last sample incomplete;
            # a whole archive ends in a zero block there
            tar.fileobj.seek(tar.offset)
            end = tar.fileobj.read(tarfile.BLOCKSIZE)
            if len(end) < tarfile.BLOCKSIZE or end.strip(b'\0'):
                raise DatasetReadError(_damaged_shard(path, f'it ends after {path.stat().st_size} bytes without the '
                                                            f'zero block that closes a tar archive'))
            if key is not None:
                samples.append(_sample(path, shard, key, group))
    except (tarfile.TarError, OSError) as err:
        raise DatasetReadError(_damaged_shard(path, f'it cannot be read as a tar file: {error_detail(err)}')) from None
    return samples


def _damaged_shard(path: Path, what: str) -> str:
    return (f'The shard {path} is truncated or damaged ({what}); a download cut short leaves such a file, and its '
            f'samples cannot be trusted. Download {path.parent.name}/{path.name} again from the dataset\'s '
            f'clip-benchmark/wds_<name> repository and replace it.')


def _sample(path: Path, shard: int, key: str, group: Dict[str, Any]) -> TarSample:
    image = next((group[k] for k in IMAGE_KEYS if k in group), None)
    if image is None:
        raise DatasetReadError(f'The sample {key!r} in {path} has no image (none of {", ".join(IMAGE_KEYS)}); the '
                               f'shard is not in CLIP_benchmark\'s layout or is damaged.')
    label = None
    if 'cls' in group:
        try:
            label = int(group['cls'].strip())
        except ValueError:
            raise DatasetReadError(f'The sample {key!r} in {path} has the class {group["cls"]!r}, not a whole '
                                   f'number (CLIP_benchmark writes the class index).') from None
    captions = [c.replace('\\n', '\n') for c in group.get('txt', '').splitlines()]
    return TarSample(shard, key, image[0], image[1], label, captions)


class _Shards:
    """The shard index of one split: the samples in shard order and how to read an image."""

    def __init__(self, root: Union[str, Path], split: str) -> None:
        self.root = Path(root).expanduser()
        nshards_file = self.root / split / NSHARDS_FILE
        if not nshards_file.is_file():
            raise DatasetNotFoundError(f'CLIP_benchmark webdataset not found: {nshards_file} does not exist. '
                                       f'{_layout(self.root, split)}')
        try:
            count = int(_read_text(nshards_file).strip())
        except ValueError:
            raise DatasetReadError(f'{nshards_file} should hold the number of shards, a whole number.') from None
        self.files = [self.root / split / f'{i}.tar' for i in range(count)]
        missing = [str(f) for f in self.files if not f.is_file()]
        if missing:
            raise DatasetNotFoundError(f'{nshards_file} announces {count} shards but {len(missing)} are missing '
                                       f'({", ".join(missing[:3])}{", ..." if len(missing) > 3 else ""}); a '
                                       f'download was cut short. Fetch the missing shards again.')
        self.samples = [sample for i, file in enumerate(self.files) for sample in _read_shard(file, i)]
        if not self.samples:
            raise DatasetNotFoundError(f'The shards under {self.root / split} hold no samples.')
        self.shard_sizes = [sum(1 for s in self.samples if s.shard == i) for i in range(count)]

    def image(self, sample: TarSample, image_size: int) -> Any:
        file = self.files[sample.shard]
        with open(file, 'rb') as f:
            f.seek(sample.image_offset)
            data = f.read(sample.image_size)
        return load_image(io.BytesIO(data), image_size, name=f'{file}:{sample.key}')


def _metadata_lines(path: Path, what: str, example: str) -> List[Tuple[int, str]]:
    """(line number, text) of each non-blank line of a metadata file holding ``what``, one a line;
    a file without any (emptied, or its download cut short) is an error naming it."""
    lines = [(n, line.strip()) for n, line in enumerate(_read_text(path).splitlines(), 1) if line.strip()]
    if not lines:
        raise DatasetReadError(f'{path} holds no {what}; it should hold one a line (e.g. {example!r}). It was emptied '
                               f'or its download cut short: download it again from the dataset\'s '
                               f'clip-benchmark/wds_<name> repository.')
    return lines


def _template_problem(template: str) -> Optional[str]:
    """Why CLIP_benchmark's ``template.format(c=classname)`` cannot fill a template, or None."""
    try:
        fields = [(name, conversion, spec) for _, name, spec, conversion in string.Formatter().parse(template)
                  if name is not None]
    except ValueError:
        return 'an unmatched brace'
    other = next((f for f in fields if f != ('c', None, '')), None)
    if other is not None:
        name, conversion, spec = other
        return f'the field {{{name}{"!" + conversion if conversion else ""}{":" + spec if spec else ""}}}, not {{c}}'
    return None if fields else 'no {c}'


def _folder_templates(path: Path) -> List[str]:
    """The folder's templates in mmtard's form ('{}' where the class name goes), filled as CLIP_benchmark
    fills them; one it could not fill is an error naming the file and line before any model sees it."""
    lines = _metadata_lines(path, 'templates', 'a photo of a {c}.')
    bad = [(n, line, problem) for n, line in lines if (problem := _template_problem(line)) is not None]
    if bad:
        listed = '; '.join(f'line {n}, {line!r}: {problem}' for n, line, problem in bad[:3])
        raise DatasetReadError(
            f'{path} has {len(bad)} template{"s" if len(bad) > 1 else ""} CLIP_benchmark cannot fill ({listed}'
            f'{"; ..." if len(bad) > 3 else ""}). Each line is one prompt with {{c}} where the class name goes, '
            f'e.g. \'a photo of a {{c}}.\' (a literal brace is written {{{{ or }}}}). Correct those lines or '
            f'download the file again from the dataset\'s clip-benchmark/wds_<name> repository; or give templates= '
            f'in the dataset\'s config to use other prompts.')
    return [line.format(c='{}') for _, line in lines]


@DATASETS.register_module()
class CLIPBenchmarkClassification(ClassificationDataset):
    """A classification dataset in CLIP_benchmark's webdataset layout, with its own class names and
    templates (CLIP_benchmark's ``{c}`` placeholder read as mmtard's ``{}``).

    Args:
        root: the dataset folder (e.g. a clone of clip-benchmark/wds_vtab-cifar10).
        split: sub-folder holding the shards.
        image_size: output side; shorter side resized (bicubic) then center-cropped.
        templates: None (the folder's templates) or a template-set name / list replacing them.
    """

    def __init__(self, root: str, split: str = 'test', image_size: int = 224,
                 templates: Union[None, str, List[str]] = None) -> None:
        kind = dataset_kind(Path(root).expanduser())
        if kind != 'classification':
            advice = 'use its retrieval task' if kind == 'retrieval' else 'mmtard does not score multi-label datasets'
            raise ConfigError(f'{root} is a CLIP_benchmark {kind} dataset ({TYPE_FILE}), not a classification one: '
                              f'{advice}.')
        self.shards = _Shards(root, split)
        self.image_size = image_size
        missing = [name for name in (CLASSNAMES_FILE, TEMPLATES_FILE)
                   if not (self.shards.root / name).is_file() and not (name == TEMPLATES_FILE and templates)]
        if missing:
            raise DatasetNotFoundError(f'The CLIP_benchmark dataset {self.shards.root} lacks {" and ".join(missing)}, '
                                       f'which zero-shot classification reads its class names and prompts from. '
                                       f'{_layout(self.shards.root, split)}')
        self.classnames = [name for _, name in _metadata_lines(self.shards.root / CLASSNAMES_FILE, 'class names',
                                                               'golden retriever')]
        self.templates = get_templates(templates) if templates else _folder_templates(self.shards.root / TEMPLATES_FILE)
        unlabelled = next((s for s in self.shards.samples if s.label is None), None)
        if unlabelled is not None:
            raise DatasetReadError(f'The sample {unlabelled.key!r} in {self.shards.files[unlabelled.shard]} has no '
                                   f'class (no .cls member).')
        self.targets = [s.label for s in self.shards.samples]
        bad = sorted({t for t in self.targets if not 0 <= t < len(self.classnames)})
        if bad:
            raise DatasetReadError(f'Samples of {self.shards.root} have classes {bad[:5]} but {CLASSNAMES_FILE} names '
                                   f'{len(self.classnames)}: the class names do not belong to these shards.')
        self.shard_sizes = self.shards.shard_sizes

    def __len__(self) -> int:
        return len(self.shards.samples)

    def load(self, index: int) -> tuple:
        sample = self.shards.samples[index]
        return self.shards.image(sample, self.image_size), sample.label


@DATASETS.register_module()
class CLIPBenchmarkRetrieval(Dataset):
    """A retrieval dataset in CLIP_benchmark's webdataset layout: one row per (image, caption), as
    :class:`~mmtard.datasets.captions.CaptionCSVDataset` gives them, the rows of one image together."""

    def __init__(self, root: str, split: str = 'test', image_size: int = 224) -> None:
        self.shards = _Shards(root, split)
        self.image_size = image_size
        self.rows = [(i, caption) for i, sample in enumerate(self.shards.samples) for caption in sample.captions]
        if not self.rows:
            raise DatasetReadError(f'The shards under {self.shards.root / split} hold no captions (.txt members): '
                                   f'not a retrieval dataset.')
        self.image_files = [f'{self.shards.samples[i].shard}/{self.shards.samples[i].key}' for i, _ in self.rows]
        self.captions = [caption for _, caption in self.rows]
        self.shard_sizes = self.shards.shard_sizes

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        index = range(len(self))[index]
        sample, caption = self.rows[index]
        return {'inputs': self.shards.image(self.shards.samples[sample], self.image_size), 'caption': caption,
                'index': index}


def _shuffle_buffer(stream: Iterator[int], size: int, rng: random.Random) -> Iterator[int]:
    """webdataset's shuffle filter (``shuffle(size, initial=size, rng=rng)``): fill the buffer two
    at a time, then yield a random element (swapped with the last) per sample read."""
    buffer: List[int] = []
    for item in stream:
        buffer.append(item)
        if len(buffer) < size:
            extra = next(stream, None)
            if extra is not None:
                buffer.append(extra)
        if len(buffer) >= size:
            yield _pick(buffer, rng)
    while buffer:
        yield _pick(buffer, rng)


def _pick(buffer: List[int], rng: random.Random) -> int:
    k = rng.randint(0, len(buffer) - 1)
    item, buffer[k] = buffer[k], buffer[-1]
    buffer.pop()
    return item


def clip_benchmark_order(shard_sizes: Sequence[int], seed: int = 0, workers: int = 4, batch_size: int = 50,
                         buffer: int = 10000) -> List[int]:
    """Sample indices in the order CLIP_benchmark's robust evaluation (RobustVLM, MMT-ARD) reads a
    webdataset with ``--n_samples``: each of ``workers`` loader processes reads every ``workers``-th
    shard through a shuffle buffer seeded by ``--seed``, in batches of ``batch_size``, and the loader
    takes one batch from each process in turn."""
    starts = [sum(shard_sizes[:i]) for i in range(len(shard_sizes))]
    streams = []
    for worker in range(workers):
        shards = range(len(shard_sizes))[worker::workers]
        indices = iter([starts[s] + i for s in shards for i in range(shard_sizes[s])])
        streams.append(_shuffle_buffer(indices, buffer, random.Random(seed)))
    order: List[int] = []
    while streams:
        for stream in list(streams):
            batch = list(islice(stream, batch_size))
            if batch:
                order.extend(batch)
            else:
                streams.remove(stream)
    return order


def clip_benchmark_selection(shard_sizes: Sequence[int], n: int, seed: int = 0) -> List[int]:
    """Sorted indices of the ``n`` samples CLIP_benchmark's ``--n_samples n --seed seed`` evaluates."""
    return sorted(clip_benchmark_order(shard_sizes, seed)[:n])
