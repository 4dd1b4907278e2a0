"""What `mmtard eval --dataset NAME|PATH` evaluates on: a benchmark dataset by name, read from a data
root on disk (never downloaded), a CLIP_benchmark webdataset (``wds/<name>`` under the data root, or
its folder), or any image folder or caption CSV by path.

The named datasets are those of the paper's benchmark config (ImageNet and the 13 zero-shot sets),
which ships inside the package (``mmtard/evaluation/configs/paper_zero_shot.py``; the repository's
``configs/_base_/evaluation/paper_zero_shot.py`` is a ``_base_`` pointing at it), read from that file so
the two never drift apart: each entry's ``root='data/<name>'`` is moved under ``--data-root``.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from ..datasets.clip_benchmark_wds import dataset_kind, is_clip_benchmark_folder
from ..errors import ConfigError, did_you_mean

#: The benchmark config whose ``evaluation.datasets`` define the dataset names.
PAPER_BENCHMARK = Path(__file__).resolve().parent / 'configs' / 'paper_zero_shot.py'
#: The data root the benchmark config's roots start with.
CONFIG_DATA_ROOT = 'data'
CAPTION_SUFFIXES = ('.csv', '.tsv')
#: How CLIP_benchmark names its webdatasets (``--dataset wds/vtab/cifar10``).
WDS_PREFIX = 'wds/'


def named_datasets(benchmark: Path = PAPER_BENCHMARK) -> Dict[str, Dict[str, Any]]:
    """Dataset name -> the benchmark config's entry (``dict(name=, dataset=dict(type=..., root='data/..'))``)."""
    from mmengine.config import Config

    entries = Config.fromfile(str(benchmark)).evaluation.datasets
    return {entry['name']: entry.to_dict() for entry in entries}


def _under_root(entry: Dict[str, Any], data_root: str) -> Dict[str, Any]:
    entry = copy.deepcopy(entry)
    root = Path(entry['dataset']['root'])
    relative = root.relative_to(CONFIG_DATA_ROOT) if root.parts[:1] == (CONFIG_DATA_ROOT,) else root
    entry['dataset']['root'] = str(Path(data_root).expanduser() / relative)
    entry['dataset'].pop('image_size', None)  # follow the evaluated model's input size
    return entry


def _wds_entry(name: str, root: Path) -> Dict[str, Any]:
    """A CLIP_benchmark webdataset folder's entry: classification, or retrieval where its dataset_type.txt says so."""
    if dataset_kind(root) == 'retrieval':
        return dict(name=name, task='retrieval', dataset=dict(type='CLIPBenchmarkRetrieval', root=str(root)))
    return dict(name=name, dataset=dict(type='CLIPBenchmarkClassification', root=str(root)))


def wds_folders(name: str, data_root: str) -> List[Path]:
    """Where ``wds/<name>`` may lie under the data root: CLIP_benchmark's hub repository name
    (``wds_vtab-cifar10`` for ``wds/vtab/cifar10``, as a clone names it) or the bare name."""
    short = name[len(WDS_PREFIX):]
    root = Path(data_root).expanduser()
    return [root / f'wds_{short.replace("/", "-")}', root / short]


def _named_wds_entry(name: str, data_root: str) -> Dict[str, Any]:
    candidates = wds_folders(name, data_root)
    found = next((path for path in candidates if is_clip_benchmark_folder(path)), None)
    if found is None:
        raise ConfigError(f'--dataset {name!r}: no CLIP_benchmark webdataset at {" or ".join(map(str, candidates))} '
                          f'(a folder holding test/nshards.txt and test/0.tar ...). Clone it there, e.g. git clone '
                          f'https://huggingface.co/datasets/clip-benchmark/{candidates[0].name} {candidates[0]}, '
                          f'or pass --data-root, or give the folder\'s path to --dataset.')
    return _wds_entry(name, found)


def _path_entry(path: Path) -> Dict[str, Any]:
    if is_clip_benchmark_folder(path):
        return _wds_entry(path.name or str(path), path)
    if path.is_dir():
        return dict(name=path.name or str(path), dataset=dict(type='ImageFolderDataset', root=str(path)))
    if path.suffix.lower() in CAPTION_SUFFIXES:
        return dict(name=path.stem, task='retrieval', dataset=dict(
            type='CaptionCSVDataset', csv_file=str(path), delimiter='\t' if path.suffix.lower() == '.tsv' else ','))
    raise ConfigError(f'--dataset {str(path)!r} is a file but not a caption CSV (.csv/.tsv with a header row '
                      f'filepath,caption). Give an image folder (one sub-folder per class), a caption CSV, or a '
                      f'benchmark dataset name.')


def dataset_entries(datasets: Sequence[str], data_root: str = CONFIG_DATA_ROOT, classnames: Optional[str] = None,
                    templates: Optional[str] = None) -> List[Dict[str, Any]]:
    """``evaluation.datasets`` entries for the ``--dataset`` values, with ``--classnames`` / ``--templates``
    (a JSON file, a template-set name or a JSON/text file of templates) applied to each."""
    entries = []
    known: Optional[Dict[str, Dict[str, Any]]] = None
    for value in datasets:
        path = Path(value).expanduser()
        if path.exists():
            entry = _path_entry(path)
        elif value.startswith(WDS_PREFIX):
            entry = _named_wds_entry(value, data_root)
        else:
            known = known if known is not None else named_datasets()
            if value not in known:
                looks_like_path = '/' in value or '.' in Path(value).name
                raise ConfigError(
                    f'--dataset {value!r} is {"no existing path" if looks_like_path else "neither a path nor a benchmark dataset name"}.'
                    f'{did_you_mean(value, list(known))} Benchmark names (read from --data-root, default '
                    f'{CONFIG_DATA_ROOT}/<name>): {", ".join(known)}; CLIP_benchmark webdatasets as wds/<name> '
                    f'(e.g. wds/vtab/cifar10); or give an image folder, webdataset folder or caption CSV path.')
            entry = _under_root(known[value], data_root)
        if classnames is not None:
            entry['classnames'] = classnames
        if templates is not None:
            entry['templates'] = template_option(templates)
        entries.append(entry)
    return entries


def template_option(value: str) -> Any:
    """``--templates``: a template-set or bundled dataset name, a file (a JSON list, or one template per line),
    a JSON list of templates, or one literal template ('a photo of a {}.')."""
    if value.lstrip().startswith('['):
        try:
            templates = json.loads(value)
        except ValueError as err:
            raise ConfigError(f'--templates {value!r} starts like a JSON list but is not one ({err}); write '
                              f'\'["a photo of a {{}}.", "a drawing of a {{}}."]\' (double quotes inside).') from None
        if not isinstance(templates, list) or not templates or not all(isinstance(t, str) for t in templates):
            raise ConfigError(f'--templates {value!r} must be a non-empty JSON list of strings.')
        return templates
    if '{' in value and not Path(value).expanduser().is_file():
        return [value]  # one literal template; get_templates checks its {}
    path = Path(value).expanduser()
    if not path.is_file():
        return value  # a name, checked with the others by get_templates
    text = path.read_text(encoding='utf-8')
    if path.suffix.lower() == '.json':
        try:
            return json.loads(text)
        except ValueError as err:
            raise ConfigError(f'--templates file {path} is not valid JSON ({err}); give a JSON list of templates '
                              f'such as ["a photo of a {{}}."] or a text file with one template per line.') from None
    return [line.strip() for line in text.splitlines() if line.strip()]
