"""Export a trained student to the formats users load without mmtard: the function behind `mmtard export`.

The formats, their contract and the model card live in :mod:`mmtard.interop` (the models' way in and
out of mmtard); this module checks the request and writes.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

from ..atomic_files import check_writable_folder, remove_stale_temporaries, write_error
from ..errors import CheckpointError, ConfigError, RunDirectoryExistsError
from ..interop.exporters import Exported, exporter as registered_exporter, formats, require_exporter_fits
from ..interop.trained_student import load_trained_student
from ..value_checks import check_path
from ..work_dir import check_output_dir

FILE_SUFFIXES = ('.pt', '.safetensors')
__all__ = ['Exported', 'default_out', 'export', 'formats']


def _check_out(out: Path, fmt: str, folder: bool) -> None:
    if out.exists() or out.is_symlink():
        raise RunDirectoryExistsError(f'--out {str(out)!r} already exists; mmtard export never overwrites. Remove '
                                      f'it or choose another path.')
    if not folder and out.suffix not in FILE_SUFFIXES:
        raise ConfigError(f'--out {str(out)!r}: a {fmt} export is a weight file ending in .pt or .safetensors '
                          f'(the suffix picks the format).')
    if folder and out.suffix in FILE_SUFFIXES:
        raise ConfigError(f'--out {str(out)!r}: a {fmt} export is a folder; give a path without a file suffix.')
    check_output_dir(out.parent, 'export folder')
    if not out.parent.is_dir():
        raise ConfigError(f'--out {str(out)!r}: the folder {str(out.parent)!r} does not exist.')
    check_writable_folder(out.parent, 'export folder')


def default_out(checkpoint: Union[str, os.PathLike], fmt: str) -> Path:
    """``<checkpoint stem>-<format><suffix>`` next to the checkpoint."""
    path = Path(checkpoint)
    return path.with_name(f'{path.stem}-{fmt}{registered_exporter(fmt).suffix}')


def export(checkpoint: Union[str, os.PathLike], fmt: str, out: Optional[Union[str, os.PathLike]] = None) -> Exported:
    """Write the student of an mmtard training ``checkpoint`` in format ``fmt`` (one of :func:`formats`)
    to ``out`` (default: next to the checkpoint); never overwrites."""
    check_path(checkpoint, 'checkpoint')
    check_path(out, 'out', optional=True)
    exporter = registered_exporter(fmt)
    if not Path(checkpoint).is_file():
        raise CheckpointError(f'Checkpoint {str(checkpoint)!r} does not exist; pass an iter_N.pth / epoch_N.pth '
                              f'file of a training work dir.')
    target = Path(out) if out is not None else default_out(checkpoint, fmt)
    _check_out(target, fmt, folder=not exporter.suffix)
    remove_stale_temporaries(target)  # of an export of the same path killed mid-write
    student = load_trained_student(checkpoint)
    require_exporter_fits(student, exporter, fmt)
    try:
        return Exported(target, fmt, exporter.write(student, target))
    except OSError as err:
        raise write_error(err, target, f'the {fmt} export') from None

