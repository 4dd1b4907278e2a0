"""Pack the chain's pretraining stages (chain seed 0, size 'full') as the package's shipped weights.

    python tools/ship_chain_weights.py WORK_DIR     # e.g. work_dirs/demo after `mmtard demo --from-scratch`

Writes mmtard/apps/pretrained/{base,clean-teacher,robust-teacher}.safetensors and manifest.json, after
checking that every text the chain reads embeds identically from the packed and the original weights.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import open_clip
import torch

from mmtard.apps.chain import BASE, CLEAN_TEACHER, ROBUST_TEACHER, STAGES, Run, Size
from mmtard.apps.shipped import SHIPPED_DIR, MANIFEST, chain_texts, unpack, write_manifest
from mmtard.checkpoint import load_state_dict_file

SHIPPED = (BASE, CLEAN_TEACHER, ROBUST_TEACHER)


def finished_run(root: Path, stage) -> Run:
    (marker,) = (root / stage.name).glob('*/seed0/stage.json')
    options = json.loads(marker.read_text())['options']
    checkpoint = marker.parent / f"iter_{options.get('train_cfg.max_iters') or _iters(stage)}.pth"
    return Run(stage, 0, marker.parent, checkpoint, marker.parent, json.loads(marker.read_text())['seconds'], True)


def _iters(stage) -> int:
    from mmtard.apps.chain import CONFIG_DIR
    from mmtard.config import load_config

    return load_config(CONFIG_DIR / stage.config).train_cfg.max_iters


def text_embeddings(state: dict, arch: str) -> torch.Tensor:
    model = open_clip.create_model(arch)
    model.load_state_dict({k[len('model.'):]: v for k, v in state.items() if k.startswith('model.')})
    tokenizer = open_clip.get_tokenizer(arch)
    with torch.no_grad():
        return model.encode_text(tokenizer(chain_texts()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('work_dir', type=Path)
    args = parser.parse_args()
    runs = [finished_run(args.work_dir, stage) for stage in SHIPPED]
    tokenizer = open_clip.get_tokenizer('mmtard-tiny-vit')
    manifest = write_manifest(runs, STAGES, Size.named('full'), tokenizer, SHIPPED_DIR)
    for run in runs:
        arch = 'mmtard-tiny-vit' if run.stage is BASE else 'mmtard-small-vit'
        packed = load_state_dict_file(str(unpack(SHIPPED_DIR / manifest[run.stage.name]['file'],
                                                 Path('/tmp') / f'{run.stage.name}-check.pth')))
        original = load_state_dict_file(str(run.checkpoint))
        same = torch.equal(text_embeddings(packed, arch), text_embeddings(original, arch))
        assert same, f'{run.stage.name}: packed weights embed the chain texts differently'
        size = (SHIPPED_DIR / manifest[run.stage.name]['file']).stat().st_size
        print(f'{run.stage.name}: {size / 1e6:.1f} MB, chain texts embed identically')
    print(f'wrote {SHIPPED_DIR / MANIFEST}')


if __name__ == '__main__':
    main()
