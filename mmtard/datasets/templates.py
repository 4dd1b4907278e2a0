"""Class names and prompt templates of the standard zero-shot datasets, in one place.

Zero-shot accuracy depends on the exact wording of class names and templates, so every dataset
takes them from here (CLIP's published lists, bundled as JSON or taken from open_clip) instead of
re-typing them: results stay comparable with the literature.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Sequence, Tuple, Union

from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES, OPENAI_IMAGENET_TEMPLATES, SIMPLE_IMAGENET_TEMPLATES

from ..errors import ConfigError, did_you_mean

METADATA_DIR = Path(__file__).with_name('metadata')

#: Named template sets; each template holds one '{}' for the class name.
TEMPLATE_SETS: Dict[str, Tuple[str, ...]] = {
    # CLIP's 80 ImageNet prompts (open_clip stores them as lambdas).
    'openai_imagenet': tuple(t('{}') for t in OPENAI_IMAGENET_TEMPLATES),
    # CLIP's 7-prompt ensemble selected on ImageNet.
    'openai_imagenet_7': tuple(t('{}') for t in SIMPLE_IMAGENET_TEMPLATES),
    # One short prompt: cheap and the usual choice for small models.
    'simple': ('a photo of a {}.',),
    # The one training prompt of the MMT-ARD release and the robust-CLIP recipes it builds on
    # (TeCoA, PMG-AFT, FARE: RobustVLM's `--template std`), without a full stop.
    'this_is_a_photo': ('This is a photo of a {}',),
}

_WNID = re.compile(r'^n\d{8}$')


@lru_cache(maxsize=None)
def _bundled(name: str) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    with open(METADATA_DIR / f'{name}.json', encoding='utf-8') as f:
        meta = json.load(f)
    return tuple(meta['classnames'] or ()), tuple(meta['templates'])  # no class names: the dataset's own


def available_metadata() -> List[str]:
    """Dataset names `get_class_names_and_templates` knows."""
    return sorted(['imagenet'] + [p.stem for p in METADATA_DIR.glob('*.json')])


def get_class_names_and_templates(name: str) -> Tuple[List[str], List[str]]:
    """Class names (in the dataset's label order; empty where the dataset's own names are the
    standard) and prompt templates of a known dataset."""
    key = name.lower().replace('-', '').replace('_', '')
    if key == 'imagenet':
        return list(IMAGENET_CLASSNAMES), list(TEMPLATE_SETS['openai_imagenet'])
    known = available_metadata()
    if key not in known:
        raise ConfigError(f'No class names and templates are bundled for dataset {name!r}.'
                          f'{did_you_mean(key, known)} Known datasets: {", ".join(known)}. Pass '
                          f'classnames=[...] and templates=[...] explicitly for other datasets.')
    classnames, templates = _bundled(key)
    return list(classnames), list(templates)


def get_templates(templates: Union[str, Sequence[str]]) -> List[str]:
    """Resolve a template-set name, a known dataset's name, or an explicit list of templates."""
    if isinstance(templates, str):
        if templates in TEMPLATE_SETS:
            return list(TEMPLATE_SETS[templates])
        key = templates.lower().replace('-', '').replace('_', '')
        if key in available_metadata():
            return get_class_names_and_templates(key)[1]
        names = list(TEMPLATE_SETS) + available_metadata()
        raise ConfigError(f'Unknown template set {templates!r}.{did_you_mean(templates, names)} Use one '
                          f'of {", ".join(names)}, or a list of templates such as ["a photo of a {{}}."].')
    result = list(templates)
    bad = [t for t in result if not isinstance(t, str) or t.count('{}') != 1]
    if not result or bad:
        raise ConfigError(f'Prompt templates must be a non-empty list of strings that each contain '
                          f'exactly one "{{}}" for the class name; these do not: {bad!r}.')
    return result


def is_wnid(name: str) -> bool:
    """Whether a folder name looks like a WordNet id (ImageNet's folder names, e.g. n01440764)."""
    return bool(_WNID.match(name))


def imagenet_wnid_classnames(wnids: Sequence[str]) -> List[str]:
    """CLIP's ImageNet class name of each WordNet id: works for ImageNet-1k and its subsets
    (ImageNet-R, ImageNet-A, ...), whose folders are named by wnid."""
    from timm.data import ImageNetInfo  # timm ships the 1000 ImageNet-1k wnids in label order

    index = {wnid: i for i, wnid in enumerate(ImageNetInfo('imagenet-1k').label_names())}
    unknown = [w for w in wnids if w not in index]
    if unknown:
        raise ConfigError(f'These folder names look like WordNet ids but are not ImageNet-1k classes: '
                          f'{unknown[:5]!r}{" ..." if len(unknown) > 5 else ""}. Pass classnames= (a list, '
                          f'or a JSON file mapping folder name to class name) to name the classes.')
    return [IMAGENET_CLASSNAMES[index[w]] for w in wnids]
