"""`mmtard eval --model hf-hub:ORG/NAME | local-dir:FOLDER`: open_clip hub folders, offline errors in seconds."""
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import open_clip
import pytest
from click.testing import CliRunner
from PIL import Image
from safetensors.torch import save_file

from mmtard.cli.eval import eval_command
from mmtard.models.encoders import OpenCLIPEncoder

ARCH = 'mmtard-tiny-vit'
REPO = Path(__file__).resolve().parents[2]


def run(*args):
    return CliRunner().invoke(eval_command, [str(a) for a in args])


def rows(out):
    return json.loads((out / 'results.json').read_text())


@pytest.fixture
def folder(tmp_path):
    """Two classes of plain-coloured 32 px images."""
    for name, colour in (('red', (220, 20, 20)), ('blue', (20, 20, 220))):
        (tmp_path / 'photos' / name).mkdir(parents=True)
        for i in range(3):
            Image.new('RGB', (32, 32), tuple(min(255, c + 9 * i) for c in colour)).save(
                tmp_path / 'photos' / name / f'{i}.png')
    return tmp_path / 'photos'


def hub_folder(path, state, model_cfg=None):
    """A folder in open_clip's hub layout holding the weights ``state`` of ``model_cfg`` (default the tiny ViT's)."""
    path.mkdir(parents=True)
    encoder = OpenCLIPEncoder(ARCH)
    config = dict(model_cfg=model_cfg or open_clip.get_model_config(ARCH),
                  preprocess_cfg=dict(mean=list(encoder.pixel_mean), std=list(encoder.pixel_std)))
    (path / 'open_clip_config.json').write_text(json.dumps(config))
    save_file({k: v.contiguous() for k, v in state.items()}, path / 'open_clip_model.safetensors')
    return path


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]  # nothing listens there once the socket is closed


def test_an_unknown_hub_model_offline_fails_in_seconds_naming_it_and_what_to_do(folder):
    """From the command line, process start included: the hub files are looked for before torch loads."""
    env = {**os.environ, 'HF_HUB_OFFLINE': '1', 'PYTHONPATH': str(REPO)}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, '-m', 'mmtard', 'eval', '--model', 'hf-hub:nobody/nothing', '--dataset',
                           str(folder)], capture_output=True, text=True, env=env, timeout=60)
    seconds = time.perf_counter() - start
    text = ' '.join((done.stdout + done.stderr).split())
    assert done.returncode == 2 and seconds < 10, (seconds, text)
    assert 'hf-hub:nobody/nothing' in text and 'HF_HUB_OFFLINE' in text and 'local-dir:' in text
    assert 'Traceback' not in text


def test_an_unreachable_hub_is_found_out_in_seconds(folder, monkeypatch):
    monkeypatch.setenv('HF_HUB_OFFLINE', '0')
    monkeypatch.setenv('HF_ENDPOINT', f'http://127.0.0.1:{closed_port()}')
    start = time.perf_counter()
    result = run('--model', 'hf-hub:nobody/nothing', '--dataset', folder)
    seconds = time.perf_counter() - start
    text = ' '.join(result.output.split())
    assert result.exit_code == 2 and seconds < 10, (seconds, text)
    assert 'cannot be reached' in text and 'hf-hub:nobody/nothing' in text and 'local-dir:' in text


def test_hub_and_local_folders_load_the_model_their_weight_file_holds(folder, checkpoint, tmp_path, monkeypatch):
    from huggingface_hub import constants

    state = OpenCLIPEncoder(ARCH, pretrained=checkpoint).model.state_dict()
    local = hub_folder(tmp_path / 'tiny-robust', state)
    repo = tmp_path / 'hub-cache' / 'models--someone--tiny-robust'  # what a download leaves in the hub cache
    (repo / 'refs').mkdir(parents=True)
    (repo / 'refs' / 'main').write_text('a' * 40)
    hub_folder(repo / 'snapshots' / ('a' * 40), state)
    monkeypatch.setattr(constants, 'HF_HUB_CACHE', str(tmp_path / 'hub-cache'))
    common = ('--dataset', folder, '--n-clean', 6, '--n-robust', 2, '--eps', 1, '--n-iter', 1)
    for name, args in (('file', ('--model', ARCH, '--pretrained', checkpoint)),
                       ('local', ('--model', f'local-dir:{local}')), ('hub', ('--model', 'hf-hub:someone/tiny-robust')),
                       ('hub_pretrained', ('--pretrained', 'hf-hub:someone/tiny-robust'))):
        result = run(*args, *common, '--out', tmp_path / name)
        assert result.exit_code == 0, result.output
    reference = rows(tmp_path / 'file')[0]
    for name in ('local', 'hub', 'hub_pretrained'):
        row = rows(tmp_path / name)[0]
        assert (row['model_checksum'], row['clean_acc'], row['model']) == (
            reference['model_checksum'], reference['clean_acc'], ARCH)
    assert rows(tmp_path / 'hub')[0]['pretrained'] == 'hf-hub:someone/tiny-robust'


def test_a_folder_of_a_new_architecture_is_registered_and_a_bad_one_explained(folder, tmp_path):
    cfg = open_clip.get_model_config(ARCH)
    cfg['vision_cfg'] = {**cfg['vision_cfg'], 'layers': 1}  # the tiny ViT with one image block: no built-in has it
    state = {k: v for k, v in open_clip.create_model(ARCH).state_dict().items()
             if not k.startswith('visual.transformer.resblocks.1.')}
    new = hub_folder(tmp_path / 'one-layer', state, cfg)
    result = run('--model', f'local-dir:{new}', '--dataset', folder, '--n-clean', 6, '--n-robust', 2, '--eps', 1,
                 '--n-iter', 1,
                 '--out', tmp_path / 'out')
    assert result.exit_code == 0, result.output
    assert rows(tmp_path / 'out')[0]['model'] == 'local-dir-one-layer'
    (new / 'open_clip_model.safetensors').unlink()
    result = run('--model', f'local-dir:{new}', '--dataset', folder)
    assert result.exit_code == 2 and 'no weights' in result.output
    result = run('--model', f'local-dir:{tmp_path / "nowhere"}', '--dataset', folder)
    assert result.exit_code == 2 and 'open_clip_config.json' in result.output
    result = run('--model', f'local-dir:{new}', '--pretrained', 'openai', '--dataset', folder)
    assert result.exit_code == 2 and 'Drop --pretrained' in ' '.join(result.output.split())


def test_an_open_clip_tag_offline_fails_at_once_with_the_command_that_fetches_it(monkeypatch):
    """Not cached and no network: an error naming the fetch command, not a minute of download retries."""
    import mmtard.hub as hub

    monkeypatch.delenv('HF_HUB_OFFLINE', raising=False)
    monkeypatch.setattr(hub, '_reachable', lambda endpoint, seconds: False)  # this machine: no network
    start = time.perf_counter()
    result = CliRunner().invoke(eval_command, ['--model', 'ViT-B-32', '--pretrained', 'openai', '--dataset', 'cifar10'])
    assert result.exit_code != 0 and 'Traceback' not in result.output
    text = ' '.join(result.output.split())
    assert 'cannot be reached' in text and 'huggingface-cli download timm/vit_base_patch32_clip_224.openai' in text
    assert time.perf_counter() - start < 30
