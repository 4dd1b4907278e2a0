"""Image-caption pairs from a CSV file (open_clip's training format): for contrastive training
and image-text retrieval evaluation.

Items hold the caption as a ``str``; the default collate (torch's and mmengine's
``default_collate``) batches those into a ``list[str]``, so no custom collate is needed.
"""
from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path
from typing import Any, Dict, List, Optional

from torch.utils.data import Dataset

from ..errors import ConfigError, DatasetNotFoundError, DatasetReadError, did_you_mean
from ..registry import DATASETS
from .preprocess import load_image


#: Byte-order marks of the encodings spreadsheet programs write ("Unicode text" exports are UTF-16).
_BOMS = ((codecs.BOM_UTF32_LE, 'utf-32'), (codecs.BOM_UTF32_BE, 'utf-32'), (codecs.BOM_UTF8, 'utf-8-sig'),
         (codecs.BOM_UTF16_LE, 'utf-16'), (codecs.BOM_UTF16_BE, 'utf-16'))


def read_csv_text(path: Path, encoding: str) -> str:
    """The text of a CSV in ``encoding``; a file in another encoding is an error naming the file,
    the encoding it was read as, the one its byte-order mark shows (if any) and how to read it."""
    data = path.read_bytes()
    marked = next((name for bom, name in _BOMS if data.startswith(bom)), None)
    wanted = codecs.lookup(encoding).name if _known_encoding(encoding) else None
    if wanted is None:
        raise ConfigError(f'encoding={encoding!r} (caption CSV {path}) is not a text encoding Python knows; '
                          f"use e.g. 'utf-8', 'latin-1', 'cp1252' or 'utf-16'.")
    if wanted == 'utf-8' and marked in (None, 'utf-8-sig'):
        encoding = 'utf-8-sig'  # Excel's "CSV UTF-8" starts with a BOM; it is not part of the first column's name
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b'\n') + 1
        found = (f'it starts with a {marked.upper().replace("-SIG", "")} byte-order mark' if marked and marked != 'utf-8-sig'
                 else f'byte {data[err.start]:#x} on line {line} is not {wanted}; a latin-1 or Windows-1252 export?')
        guess = 'utf-16' if marked == 'utf-16' else marked if marked else 'latin-1'
        raise DatasetReadError(f'The caption CSV {path} is not {wanted} text ({found}). Pass its encoding '
                               f"(encoding='{guess}' in the dataset config), or save it as UTF-8, e.g. "
                               f'iconv -f {guess} -t utf-8 in.csv > out.csv.') from None


def _known_encoding(encoding: str) -> bool:
    try:
        codecs.lookup(encoding)
    except LookupError:
        return False
    return True


@DATASETS.register_module()
class CaptionCSVDataset(Dataset):
    """Rows of ``csv_file`` -> ``{'inputs': float32 (3,H,W) in [0,1], 'caption': str, 'index': int}``.

    Args:
        csv_file: CSV with a header row.
        image_root: folder that relative image paths start from; default the CSV's folder.
        image_size: output side; shorter side resized (bicubic) then center-cropped.
        image_key / caption_key: column names of the image path and the caption.
        delimiter: CSV delimiter (open_clip's own CSVs often use a tab).
        encoding: the file's text encoding (a UTF-8 byte-order mark is skipped), e.g. 'latin-1', 'utf-16'.
    """

    def __init__(self, csv_file: str, image_root: Optional[str] = None, image_size: int = 224,
                 image_key: str = 'filepath', caption_key: str = 'caption', delimiter: str = ',',
                 encoding: str = 'utf-8') -> None:
        path = Path(csv_file).expanduser()
        if not path.is_file():
            raise DatasetNotFoundError(
                f'Caption CSV not found: {path}. It must have a header row with an image-path column '
                f'{image_key!r} and a caption column {caption_key!r} (e.g. "{image_key},{caption_key}" then '
                f'"images/0001.jpg,a dog on a sofa"); relative paths start at image_root or the CSV\'s folder.')
        text = read_csv_text(path, encoding)
        reader = csv.DictReader(io.StringIO(text, newline=''), delimiter=delimiter)
        columns = list(reader.fieldnames or [])
        for key, option in ((image_key, 'image_key'), (caption_key, 'caption_key')):
            if key not in columns:
                raise ConfigError(f'The caption CSV {path} has no column {key!r} ({option}).'
                                  f'{did_you_mean(key, columns)} Its columns are: {", ".join(columns)}; '
                                  f'set {option}= to the right one (and delimiter= if the file is not '
                                  f'comma-separated).')
        rows = [(row[image_key], row[caption_key]) for row in reader]
        if not rows:
            raise DatasetNotFoundError(f'The caption CSV {path} has a header but no rows.')
        empty = [number for number, (_, caption) in enumerate(rows, start=2) if not (caption or '').strip()]
        if empty:
            raise DatasetReadError(
                f'The caption CSV {path} has {len(empty)} empty caption{"s" if len(empty) > 1 else ""} (line '
                f'{", ".join(map(str, empty[:5]))}{" ..." if len(empty) > 5 else ""}; {caption_key!r} column): an '
                f'empty caption matches every image alike, so recall would be meaningless (all empty scores '
                f'100%). Fill them in, or remove those rows.')
        root = Path(image_root).expanduser() if image_root else path.parent
        self.csv_file = path
        self.image_size = image_size
        self.image_files: List[Path] = [root / file for file, _ in rows]
        self.captions: List[str] = [caption for _, caption in rows]

    def __len__(self) -> int:
        return len(self.captions)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        index = range(len(self))[index]
        file = self.image_files[index]
        if not file.is_file():
            raise DatasetNotFoundError(f'Image {file} listed in row {index + 1} of {self.csv_file} does not '
                                       f'exist; fix the path or set image_root= to the folder the paths '
                                       f'start from.')
        return {'inputs': load_image(file, self.image_size), 'caption': self.captions[index], 'index': index}

    @property
    def metainfo(self) -> Dict[str, Any]:
        return {'csv_file': str(self.csv_file), 'image_size': self.image_size,
                'dataset_type': type(self).__name__}
