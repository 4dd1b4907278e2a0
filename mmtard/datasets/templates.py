"""Class names and prompt templates, resolved in one place for every dataset kind and every caller.

Zero-shot accuracy depends on the exact wording of class names and templates, so every dataset
takes them from here (CLIP's published lists, bundled as JSON or taken from open_clip) instead of
re-typing them: results stay comparable with the literature. Names given for class folders are
matched to the folders by name, never silently by position (see :func:`folder_classnames`).
"""
from __future__ import annotations

import json
import os
import re
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

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
def _bundled(name: str) -> Tuple[Tuple[str, ...], Tuple[str, ...], Tuple[str, ...]]:
    """(class names, templates, folder names of the dataset's image-folder release in label order)."""
    with open(METADATA_DIR / f'{name}.json', encoding='utf-8') as f:
        meta = json.load(f)
    # no class names: the dataset's own; no folders: it is not distributed as class folders
    return tuple(meta['classnames'] or ()), tuple(meta['templates']), tuple(meta.get('folders') or ())


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
    classnames, templates, _ = _bundled(key)
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


#: What may name the classes: None (the dataset's own), a bundled dataset's name, a JSON file (a list
#: or a folder -> name mapping), a list in label order, or a folder -> name mapping.
ClassNamesSpec = Union[None, str, os.PathLike, Sequence[str], Mapping[str, str]]


def _bundle_key(name: str) -> Optional[str]:
    key = name.lower().replace('-', '').replace('_', '')
    return key if key in available_metadata() else None


def class_names_and_templates(classnames: ClassNamesSpec,
                              templates: Union[None, str, Sequence[str]]) -> Tuple[Optional[List[str]],
                                                                                   Optional[List[str]]]:
    """Class names and templates a config gives for a label space (a model's, a benchmark entry's):
    a bundled dataset's name ('imagenet') gives both; lists pass through; None stays None."""
    if isinstance(classnames, str):
        named_classes, named_templates = get_class_names_and_templates(classnames)
        if not named_classes:
            raise ConfigError(f"classnames={classnames!r}: mmtard bundles only the prompt templates of this "
                              f"dataset (its standard class names are torchvision's own). Leave classnames "
                              f"out to take them from the dataset, or give the list.")
        classnames = named_classes
        templates = named_templates if templates is None else templates
    if isinstance(classnames, Mapping):
        raise ConfigError('A {"folder": "class name"} mapping names the classes of an image folder '
                          '(ImageFolderDataset classnames=); elsewhere give the class names as a list in label order.')
    return (list(classnames) if classnames is not None else None,
            get_templates(templates) if templates is not None else None)


def _name_key(name: str) -> str:
    """Folder and class names compared loosely: case, '_', '-' and repeated spaces do not matter."""
    return re.sub(r'[\s_\-]+', ' ', str(name)).strip().lower()


def _given_names(classnames: ClassNamesSpec, folders: Sequence[str]) -> Tuple[str, Union[List[str], Dict[str, str]]]:
    """(where the names come from, a list or a folder -> name mapping) of a classnames option."""
    if isinstance(classnames, Mapping):
        return 'classnames', {str(k): str(v) for k, v in classnames.items()}
    if isinstance(classnames, str) and not Path(classnames).exists() and _bundle_key(classnames):
        key = _bundle_key(classnames)
        if key == 'imagenet' and folders and all(is_wnid(f) for f in folders):
            return f'The {classnames} class names', dict(zip(folders, imagenet_wnid_classnames(folders)))
        names, _ = get_class_names_and_templates(key)
        if not names:
            raise ConfigError(f'classnames={classnames!r}: mmtard bundles only the prompt templates of this '
                              f'dataset. Give a JSON file mapping each folder to its class name.')
        release_folders = _bundled(key)[2] if key != 'imagenet' else ()
        if release_folders and len(release_folders) == len(names):
            return f'The {classnames} class names', dict(zip(release_folders, names))
        return f'The {classnames} class names', list(names)
    if isinstance(classnames, (str, os.PathLike)):
        path = Path(classnames)
        if not path.is_file():
            raise ConfigError(f'classnames={str(classnames)!r} is not a file. Give a JSON file holding a '
                              f'{{"folder": "class name"}} mapping (or a list of the folder names), or a bundled '
                              f'dataset\'s name ({", ".join(available_metadata())}).')
        try:
            loaded = json.loads(path.read_text(encoding='utf-8'))
        except (ValueError, UnicodeDecodeError) as err:
            raise ConfigError(f'The class-name file {path} is not valid JSON ({err}); it must hold a '
                              f'{{"folder": "class name"}} mapping or a list of class names.') from None
        if not isinstance(loaded, (list, dict)):
            raise ConfigError(f'The class-name file {path} holds a {type(loaded).__name__}; it must hold a '
                              f'{{"folder": "class name"}} mapping or a list of class names.')
        return f'The class-name file {path}', ({str(k): str(v) for k, v in loaded.items()}
                                                if isinstance(loaded, dict) else [str(v) for v in loaded])
    return 'classnames', [str(c) for c in classnames]


def _mapping_hint(folders: Sequence[str]) -> str:
    example = ', '.join(f'"{f}": "..."' for f in folders[:2])
    return (f'Give the names as a mapping from folder to class name instead: a JSON file holding '
            f'{{{example}{", ..." if len(folders) > 2 else ""}}} as classnames=, or --classnames FILE.')


def folder_classnames(folders: Sequence[str], classnames: ClassNamesSpec, where: str = 'the image folder') -> List[str]:
    """Natural-language class name of each class folder (``folders`` sorted, i.e. in label order).

    ``classnames`` None: the folder names (CLIP's ImageNet names for WordNet-id folders). A mapping
    (a dict, a JSON file holding one, a bundled dataset's release folders such as 'eurosat') names
    each folder by its name. A plain list carries no folder names, so it is accepted only where its
    order provably matches the folders: it lists the folder names themselves (in any order), or the
    folders are named 0..N-1 and the list is in that label order. Any other list is refused: matched
    by position to the sorted folders, a list in some other order would name classes wrong silently.
    """
    if classnames is None:
        if folders and all(is_wnid(f) for f in folders):
            return imagenet_wnid_classnames(folders)
        return [f.replace('_', ' ') for f in folders]
    source, given = _given_names(classnames, folders)
    if isinstance(given, dict):
        loose = {_name_key(k): v for k, v in given.items()}
        missing = [f for f in folders if f not in given and _name_key(f) not in loose]
        if missing:
            raise ConfigError(f'{source} names no class for the folders {missing[:5]!r}'
                              f'{" ..." if len(missing) > 5 else ""} of {where}; add them to it (it maps folder '
                              f'name -> class name).')
        present = set(folders) | {_name_key(f) for f in folders}
        unused = [k for k in given if k not in present and _name_key(k) not in present]
        if unused and not (isinstance(classnames, str) and not os.path.isfile(classnames)):  # a bundled mapping
            warnings.warn(f'{source} maps {len(unused)} name{"s" if len(unused) > 1 else ""} that {where} has no '
                          f'folder for ({", ".join(map(repr, unused[:5]))}{" ..." if len(unused) > 5 else ""}): '
                          f'a misspelt or missing folder? They are ignored.', UserWarning, stacklevel=2)
        return [given[f] if f in given else loose[_name_key(f)] for f in folders]
    if len(given) != len(folders):
        raise ConfigError(f'{source} gives {len(given)} class names but the dataset has {len(folders)} classes '
                          f'(the folders of {where}). {_mapping_hint(folders)}')
    keys = [_name_key(n) for n in given]
    if sorted(keys) == sorted(_name_key(f) for f in folders) and len(set(keys)) == len(keys):
        by_key = dict(zip(keys, given))
        return [by_key[_name_key(f)] for f in folders]
    if all(f.isdigit() for f in folders) and sorted(int(f) for f in folders) == list(range(len(folders))):
        return [given[int(f)] for f in folders]  # folders named by label index: the list is in label order
    raise ConfigError(
        f'{source} is a plain list of {len(given)} class names ({", ".join(map(repr, given[:3]))}, ...), but the '
        f'folders of {where} have other names ({", ".join(map(repr, folders[:3]))}, ...): labels follow the '
        f'sorted folder names, and nothing shows that the list is in that order (a list in label order of '
        f'another tool is not, and would name classes wrong without any error). {_mapping_hint(folders)}')


def dataset_class_text(dataset: Any, classnames: ClassNamesSpec = None,
                       templates: Union[None, str, Sequence[str]] = None) -> Tuple[List[str], List[str]]:
    """Class names and templates to evaluate ``dataset`` with: its own, or those given (matched to
    the folders by name for a class-folder dataset, checked against its number of classes otherwise)."""
    own = list(dataset.classnames)
    folders = getattr(dataset, 'folders', None)
    if classnames is not None and folders is not None:
        names: Optional[List[str]] = folder_classnames(folders, classnames, str(getattr(dataset, 'root', 'the dataset')))
        named_templates = class_names_and_templates(None, templates)[1]
    else:
        names, named_templates = class_names_and_templates(classnames, templates)
    if names is not None:
        _check_count(names, len(own), 'the dataset')
    return names or own, named_templates or list(dataset.templates)


def _check_count(names: Sequence[str], num_classes: int, dataset: str) -> None:
    if len(names) != num_classes:
        raise ConfigError(f'classnames gives {len(names)} class names but {dataset} has {num_classes} classes; '
                          f'give exactly one name per class, in label order.')


def standard_class_text(dataset: str, own_classes: Sequence[str], classnames: Optional[Sequence[str]] = None,
                        templates: Union[None, str, Sequence[str]] = None) -> Tuple[List[str], List[str]]:
    """Class names and templates of a benchmark dataset whose labels are fixed (torchvision's): the given
    names (one per class, in label order), else the bundled standard ones of ``dataset``, else its own
    ``own_classes``; the given templates, else the bundled ones, else 'simple'."""
    key = _bundle_key(dataset)
    bundled = get_class_names_and_templates(key) if key else None
    num_classes = len(bundled[0]) if bundled and bundled[0] else len(own_classes)
    if classnames is not None:
        names = [str(c) for c in classnames]
        if num_classes:
            _check_count(names, num_classes, dataset)
    elif bundled and bundled[0]:
        names = bundled[0]
    elif own_classes:
        names = [str(c).replace('_', ' ') for c in own_classes]
    else:
        raise ConfigError(f'{dataset} has no class names; pass classnames=[...].')
    if templates is not None:
        return names, get_templates(templates)
    return names, bundled[1] if bundled else get_templates('simple')
