"""Helpers shared by evaluation tests (a module of its own: `from conftest import` is ambiguous)."""
from __future__ import annotations

from pathlib import Path

STUDENT = dict(type='OpenCLIPEncoder', arch='mmtard-tiny-vit', pretrained=None)
MODEL = dict(type='CleanFinetune', student=STUDENT)


def write_config(path: Path, text: str) -> Path:
    path.write_text(f'model = {MODEL!r}\n' + text)
    return path
