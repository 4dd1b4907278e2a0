"""`mmtard export`: each format, loaded by open_clip or timm alone, gives mmtard's zero-shot logits."""
import contextlib
import errno
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import open_clip
import pytest
import timm
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from mmengine.config import Config

from mmtard.apis.evaluate import load_model_checkpoint
from mmtard.apis.export import export
from mmtard.interop.exporters import HF_CARD, HF_CONFIG, HF_WEIGHTS
from mmtard.interop.trained_student import load_trained_student
from mmtard.evaluation.results import BenchmarkResult, write_results
from mmtard.cli.main import cli
from mmtard.config import resolve_config
from mmtard.errors import CheckpointError, ConfigError, RunDirectoryExistsError
from mmtard.models.encoders import OpenCLIPEncoder, TimmEncoder
from mmtard.registry import MODELS

from shared_inputs import FAST, TINY

ARCH = 'mmtard-tiny-vit'
CLASSES = ['red circle', 'blue square', 'green triangle', 'yellow star']
TEMPLATES = ['a photo of a {}.', 'a drawing of a {}.']
LORA = dict(r=2, alpha=4, dropout=0.0)


def open_clip_logits(model, tokenizer, images, mean, std):
    """Zero-shot logits computed with open_clip's own calls only (scale 100, template-averaged classes)."""
    with torch.no_grad():
        prompts = [t.format(c) for c in CLASSES for t in TEMPLATES]
        text = F.normalize(model.encode_text(tokenizer(prompts)), dim=-1).view(len(CLASSES), len(TEMPLATES), -1)
        weights = F.normalize(text.mean(dim=1), dim=-1)
        pixels = (images - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
        return 100.0 * F.normalize(model.encode_image(pixels), dim=-1) @ weights.t()


def mmtard_logits(encoder, images):
    with torch.no_grad():
        return 100.0 * encoder(images) @ encoder.class_embeddings(CLASSES, TEMPLATES).t()


@pytest.fixture(scope='module')
def images():
    return torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope='module')
def start_weights(tmp_path_factory):
    """The CLIP the student starts from: its text tower is what every export must keep."""
    torch.manual_seed(5)
    path = tmp_path_factory.mktemp('start') / 'tiny_clip.pt'
    torch.save(open_clip.create_model(ARCH).state_dict(), path)
    return path


@pytest.fixture(scope='module')
def trained(tmp_path_factory, start_weights):
    work = tmp_path_factory.mktemp('export') / 'run'
    result = CliRunner().invoke(cli, ['train', str(TINY), '--work-dir', str(work), *FAST,
                                      '-o', f'model.student.pretrained={start_weights}'], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return work / 'iter_4.pth'


def trained_model_logits(checkpoint, start_weights, images):
    """mmtard's own path: the config's model with the checkpoint loaded, scoring its student."""
    model = MODELS.build(resolve_config(TINY, {'model.student.pretrained': str(start_weights)}).model)
    load_model_checkpoint(model, checkpoint)
    model.set_classes(CLASSES, TEMPLATES)
    with torch.no_grad():
        return model.student_logits(images)


def handmade_checkpoint(path, student_cfg, encoder, **model_options):
    """What `mmtard train` writes, reduced to what export reads: the config text and the student."""
    cfg = Config(dict(model=dict(type='MMTARD', student=student_cfg, **model_options,
                                 teachers=[dict(name='clean', encoder=dict(type='OpenCLIPEncoder', arch=ARCH),
                                                teacher_input='clean')],
                                 attack=dict(type='PGD', eps=2, steps=10)),
                      train_dataloader=dict(dataset=dict(type='ShapesDataset', num_samples=64))))
    state = {f'student.{k}': v for k, v in encoder.state_dict().items()}
    torch.save({'meta': {'cfg': cfg.pretty_text, 'iter': 7, 'epoch': 0}, 'state_dict': state}, path)
    return path


def trained_a_little(encoder):
    with torch.no_grad():
        for name, param in encoder.named_parameters():
            if param.requires_grad:
                param.add_(0.05 * torch.randn_like(param))
    return encoder.eval()


@pytest.mark.parametrize('suffix', ['.pt', '.safetensors'])
def test_open_clip_export_loads_strictly_and_gives_the_same_logits(trained, start_weights, images, tmp_path, suffix):
    out = tmp_path / f'student{suffix}'
    result = export(trained, 'open_clip', out)
    assert result.path == out and out.is_file()
    model = open_clip.create_model(ARCH, pretrained=str(out)).eval()  # open_clip loads full checkpoints strictly
    encoder = OpenCLIPEncoder(ARCH)
    expected = trained_model_logits(trained, start_weights, images)
    got = open_clip_logits(model, open_clip.get_tokenizer(ARCH), images, encoder.pixel_mean, encoder.pixel_std)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    start = open_clip.create_model(ARCH, pretrained=str(start_weights)).state_dict()
    exported = model.state_dict()
    assert all(torch.equal(exported[k], v) for k, v in start.items() if not k.startswith(('visual.', 'logit_scale')))
    assert model.logit_scale.exp().item() == pytest.approx(100.0)  # the scale it was trained at, not the start's
    assert not all(torch.equal(exported[k], v) for k, v in start.items() if k.startswith('visual.'))


def test_vision_export_is_the_image_tower_for_the_original_text_tower(trained, start_weights, images, tmp_path):
    out = tmp_path / 'vision.pt'
    export(trained, 'vision', out)
    state = torch.load(out)
    assert state and not any(k.startswith('visual.') for k in state)
    model = open_clip.create_model(ARCH, pretrained=str(start_weights)).eval()
    model.visual.load_state_dict(state)  # strict: as RobustVLM loads its vision checkpoints
    encoder = OpenCLIPEncoder(ARCH)
    got = open_clip_logits(model, open_clip.get_tokenizer(ARCH), images, encoder.pixel_mean, encoder.pixel_std)
    torch.testing.assert_close(got, trained_model_logits(trained, start_weights, images), rtol=1e-5, atol=1e-5)


def test_hf_hub_folder_loads_offline_with_its_model_card(trained, start_weights, images, tmp_path, monkeypatch):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    checksum = load_trained_student(trained).encoder.model_checksum()
    row = dict(dataset='shapes', split='test', task='classification', n=100, n_robust=8, eps=2.0, attack='APGD-CE',
               clean_acc=0.41, robust_acc=0.125)
    write_results([BenchmarkResult(**row, model_checksum=checksum)], trained.parent / 'eval' / 'iter_4_student_quick')
    write_results([BenchmarkResult(**{**row, 'dataset': 'other weights'}, model_checksum='0' * 64)],
                  trained.parent / 'eval' / 'someone_else')
    out = tmp_path / 'tiny-mmtard'
    result = export(trained, 'hf-hub', out)
    assert sorted(p.name for p in out.iterdir()) == sorted([HF_CARD, HF_CONFIG, HF_WEIGHTS])
    assert 'local-dir:' in result.load_with
    model, _, preprocess = open_clip.create_model_and_transforms(f'local-dir:{out}')
    tokenizer = open_clip.get_tokenizer(f'local-dir:{out}')
    config = json.loads((out / HF_CONFIG).read_text())
    mean, std = config['preprocess_cfg']['mean'], config['preprocess_cfg']['std']
    assert tuple(mean) == OpenCLIPEncoder(ARCH).pixel_mean
    got = open_clip_logits(model.eval(), tokenizer, images, mean, std)
    torch.testing.assert_close(got, trained_model_logits(trained, start_weights, images), rtol=1e-5, atol=1e-5)
    card = (out / HF_CARD).read_text()
    for fact in ('library_name: open_clip', '**Method:** MMTARD', 'clean: mmtard-tiny-vit', 'robust: mmtard-tiny-vit',
                 'eps 4/255', 'ShapesDataset', '4 iterations', '| shapes | classification | 2 | 100 | 8 | APGD-CE | 41 |',
                 f'started from {start_weights.name}', 'license: apache-2.0', '**Logit scale:** 100'):
        assert fact in card, fact
    assert str(start_weights.parent) not in card and str(tmp_path) not in card and 'other weights' not in card
    assert oct(out.stat().st_mode & 0o777) == oct(0o777 & ~umask())
    assert {oct(p.stat().st_mode & 0o777) for p in out.iterdir()} == {oct(0o666 & ~umask())}


def test_hf_hub_folder_uploaded_as_is_loads_through_open_clips_hub_path(trained, tmp_path):
    """The folder is a hub repository's content: placed in a hub cache (as a download would), open_clip's
    'hf-hub:' path loads it with HF_HUB_OFFLINE=1 (tests/conftest.py) and nothing downloaded."""
    out = export(trained, 'hf-hub', tmp_path / 'folder').path
    repo = tmp_path / 'hub-cache' / 'models--mmtard--tiny-robust'
    revision = 'a' * 40
    (repo / 'refs').mkdir(parents=True)
    (repo / 'refs' / 'main').write_text(revision)
    shutil.copytree(out, repo / 'snapshots' / revision)
    cache = str(tmp_path / 'hub-cache')
    model = open_clip.create_model('hf-hub:mmtard/tiny-robust', cache_dir=cache)
    local = open_clip.create_model(f'local-dir:{out}')
    assert all(torch.equal(v, local.state_dict()[k]) for k, v in model.state_dict().items())
    assert open_clip.get_tokenizer('hf-hub:mmtard/tiny-robust', cache_dir=cache)(['a shape']).shape[-1] == 32


def test_lora_student_exports_merged_weights(tmp_path, start_weights, images):
    student_cfg = dict(type='OpenCLIPEncoder', arch=ARCH, pretrained=str(start_weights), lora=LORA)
    torch.manual_seed(1)
    encoder = trained_a_little(OpenCLIPEncoder(**{k: v for k, v in student_cfg.items() if k != 'type'}))
    checkpoint = handmade_checkpoint(tmp_path / 'iter_7.pth', student_cfg, encoder)
    out = export(checkpoint, 'open_clip', tmp_path / 'merged.safetensors').path
    model = open_clip.create_model(ARCH, pretrained=str(out)).eval()
    got = open_clip_logits(model, open_clip.get_tokenizer(ARCH), images, encoder.pixel_mean, encoder.pixel_std)
    torch.testing.assert_close(got, mmtard_logits(encoder, images), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize('arch', ['test_vit', 'test_resnet'])
def test_timm_student_exports_its_trunk_with_the_projection_as_classifier(tmp_path, start_weights, images, arch):
    text_tower = dict(arch=ARCH, pretrained=str(start_weights))
    student_cfg = dict(type='TimmEncoder', arch=arch, image_size=32, text_tower=text_tower)
    torch.manual_seed(2)
    encoder = trained_a_little(TimmEncoder(arch, text_tower=text_tower, image_size=32))
    checkpoint = handmade_checkpoint(tmp_path / 'iter_7.pth', student_cfg, encoder)
    out = export(checkpoint, 'timm', tmp_path / 'trunk.safetensors').path
    size = {'img_size': 32} if timm.get_pretrained_cfg(arch).fixed_input_size else {}
    trunk = timm.create_model(arch, pretrained=True, num_classes=64, **size,
                              pretrained_cfg_overlay=dict(file=str(out), num_classes=64)).eval()
    text = open_clip.create_model(ARCH, pretrained=str(start_weights)).eval()
    with torch.no_grad():
        prompts = [t.format(c) for c in CLASSES for t in TEMPLATES]
        per_prompt = F.normalize(text.encode_text(open_clip.get_tokenizer(ARCH)(prompts)), dim=-1)
        weights = F.normalize(per_prompt.view(len(CLASSES), len(TEMPLATES), -1).mean(dim=1), dim=-1)
        mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (encoder.pixel_mean, encoder.pixel_std))
        got = 100.0 * F.normalize(trunk((images - mean) / std), dim=-1) @ weights.t()
    torch.testing.assert_close(got, mmtard_logits(encoder, images), rtol=1e-5, atol=1e-5)
    # and back into mmtard: `mmtard eval --model ARCH --pretrained FILE --text-tower ...` takes the projection too
    again = TimmEncoder(arch, text_tower=text_tower, image_size=32, pretrained=str(out)).eval()
    torch.testing.assert_close(mmtard_logits(again, images), mmtard_logits(encoder, images), rtol=1e-5, atol=1e-5)


def test_export_refuses_what_it_cannot_do_and_overwrites_nothing(trained, tmp_path):
    plain = tmp_path / 'plain.pt'
    torch.save(open_clip.create_model(ARCH).state_dict(), plain)
    with pytest.raises(CheckpointError, match='not a checkpoint written by `mmtard train`'):
        export(plain, 'open_clip', tmp_path / 'x.pt')
    with pytest.raises(ConfigError, match="Unknown export format 'openclip'.*Did you mean 'open_clip'"):
        export(trained, 'openclip')
    with pytest.raises(ConfigError, match='exports TimmEncoder students.*Use --format open_clip'):
        export(trained, 'timm', tmp_path / 'trunk.pt')
    with pytest.raises(ConfigError, match='ending in .pt or .safetensors'):
        export(trained, 'vision', tmp_path / 'vision.bin')
    existing = tmp_path / 'taken.pt'
    existing.write_bytes(b'keep me')
    with pytest.raises(RunDirectoryExistsError, match='never overwrites'):
        export(trained, 'open_clip', existing)
    assert existing.read_bytes() == b'keep me'
    assert not (tmp_path / 'x.pt').exists() and not (tmp_path / 'trunk.pt').exists()


def test_cli_exports_next_to_the_checkpoint_and_explains_errors(trained):
    result = CliRunner().invoke(cli, ['export', str(trained), '--format', 'vision'])
    assert result.exit_code == 0, result.output
    assert (trained.parent / 'iter_4-vision.pt').is_file() and 'load_state_dict' in result.output
    again = CliRunner().invoke(cli, ['export', str(trained), '--format', 'vision'])
    assert again.exit_code == 2 and 'never overwrites' in again.output and 'Traceback' not in again.output


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_exports_carry_the_trained_logit_scale_and_are_world_readable(tmp_path, start_weights):
    """open_clip initialises logit_scale at 1/0.07 = 14.3; the student was trained (and evaluated) at 20."""
    encoder = OpenCLIPEncoder(ARCH, pretrained=str(start_weights))
    checkpoint = handmade_checkpoint(tmp_path / 'iter_7.pth', dict(type='OpenCLIPEncoder', arch=ARCH,
                                                                   pretrained=str(start_weights)), encoder,
                                     logit_scale=20.0)
    out = export(checkpoint, 'open_clip', tmp_path / 'student.safetensors').path
    model = open_clip.create_model(ARCH, pretrained=str(out))
    assert model.logit_scale.exp().item() == pytest.approx(20.0)
    assert oct(out.stat().st_mode & 0o777) == oct(0o666 & ~umask())
    plain = export(handmade_checkpoint(tmp_path / 'iter_8.pth', dict(type='OpenCLIPEncoder', arch=ARCH), encoder),
                   'open_clip', tmp_path / 'default.pt').path  # MMTARD's default scale, 100
    assert open_clip.create_model(ARCH, pretrained=str(plain)).logit_scale.exp().item() == pytest.approx(100.0)


@pytest.mark.parametrize('scale, shown', [('0.0', '0.0'), ('-20.0', '-20.0'), ("float('nan')", 'nan'),
                                         ("float('inf')", 'inf')])
def test_a_logit_scale_a_clip_export_cannot_store_is_refused_before_anything_is_written(tmp_path, start_weights,
                                                                                       scale, shown):
    encoder = OpenCLIPEncoder(ARCH, pretrained=str(start_weights))
    checkpoint = handmade_checkpoint(tmp_path / 'iter_7.pth', dict(type='OpenCLIPEncoder', arch=ARCH), encoder,
                                     logit_scale=20.0)
    content = torch.load(checkpoint)
    content['meta']['cfg'] = content['meta']['cfg'].replace('logit_scale=20.0', f'logit_scale={scale}')
    torch.save(content, checkpoint)
    for fmt, name in (('open_clip', 'student.safetensors'), ('hf-hub', 'hub')):
        result = CliRunner().invoke(cli, ['export', str(checkpoint), '--format', fmt, '--out', str(tmp_path / name)])
        text = ' '.join(result.output.split())
        assert result.exit_code == 2 and 'Traceback' not in result.output, text
        assert (f"The training config stored in {str(checkpoint)!r} sets model.logit_scale={shown}, which a CLIP "
                f"export cannot carry") in text
        assert 'must be a finite number > 0' in text and 'Export the image tower alone with --format vision' in text
        assert 'train again with a positive scale (-o model.logit_scale=100' in text
        assert [p.name for p in tmp_path.iterdir()] == ['iter_7.pth'], 'no export, no model config, no temporary'
    export(checkpoint, 'vision', tmp_path / 'vision.pt')  # the image tower carries no scale


def test_the_demos_unpacked_pretraining_stages_export_and_an_older_unpacking_says_how_to_renew_it(tmp_path):
    """`mmtard demo` unpacks its shipped stages with their training config, so they export as trained
    ones do; one an earlier mmtard unpacked without it is refused with the way to renew it, which works."""
    from mmtard.apps.chain import BASE, Size, train_stage
    from mmtard.apps.shipped import SHIPPED_DIR, manifest, unpack
    from mmtard.checkpoint import read_checkpoint

    def demo_stage():
        return train_stage(BASE, 0, tmp_path / 'demo', Size.named('full'), {}, lambda line: None, use_shipped=True)

    run = demo_stage()
    assert run.origin == 'shipped'
    out = export(run.checkpoint, 'open_clip', tmp_path / 'base.safetensors').path
    state = read_checkpoint(str(run.checkpoint))['state_dict']
    exported = open_clip.create_model(ARCH, pretrained=str(out)).state_dict()
    assert all(torch.equal(value, state[f'student.model.{key}']) for key, value in exported.items()
               if key != 'logit_scale')
    # contrastive pretraining learns its scale apart from open_clip's untouched initial one: the CLIP carries it
    learned = state['log_temperature'].clamp(max=math.log(100.0))
    assert exported['logit_scale'].item() == pytest.approx(learned.item(), abs=1e-6)
    assert 15 < learned.exp().item() < 25 and abs(state['student.model.logit_scale'].exp().item() - 1 / 0.07) < 1e-3

    unpack(SHIPPED_DIR / manifest()['base']['file'], run.checkpoint)  # as the demo unpacked it before
    result = CliRunner().invoke(cli, ['export', str(run.checkpoint), '--format', 'open_clip',
                                      '--out', str(tmp_path / 'again.safetensors')])
    text = ' '.join(result.output.split())
    assert result.exit_code == 2 and 'Traceback' not in result.output, text
    assert (f"{str(run.checkpoint)!r} holds the weights of a pretraining stage that ships with mmtard "
            f"(base.safetensors), unpacked by an earlier `mmtard demo` without the training config") in text
    assert 'Delete the file and run `mmtard demo` again with the same --work-dir' in text
    assert not (tmp_path / 'again.safetensors').exists()
    run.checkpoint.unlink()  # as the message says
    assert demo_stage().origin == 'shipped'
    export(run.checkpoint, 'open_clip', tmp_path / 'again.safetensors')


@pytest.mark.parametrize('fmt, name, code, message', [
    ('open_clip', 'x.safetensors', errno.ENOSPC, 'is full'), ('vision', 'x.pt', errno.ENOSPC, 'is full'),
    ('hf-hub', 'hub', errno.ENOSPC, 'is full'), ('open_clip', 'x.pt', errno.EROFS, 'is not writable')])
def test_a_full_disk_is_a_clear_error_and_leaves_no_temporary(trained, tmp_path, monkeypatch, fmt, name, code,
                                                              message):
    import mmtard.atomic_files

    def failing(fd):  # the data reaching the disk is where a full disk shows
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(mmtard.atomic_files.os, 'fsync', failing)
    result = CliRunner().invoke(cli, ['export', str(trained), '--format', fmt, '--out', str(tmp_path / name)])
    text = ' '.join(result.output.split())
    assert result.exit_code == 2 and message in text and 'Traceback' not in result.output, text
    assert list(tmp_path.iterdir()) == [], 'no export, no hidden temporary'


def test_a_read_only_folder_is_refused_before_the_work(trained, tmp_path):
    folder = tmp_path / 'ro'
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip('running as a user who may write anywhere (root)')
        result = CliRunner().invoke(cli, ['export', str(trained), '--out', str(folder / 'x.safetensors')])
        text = ' '.join(result.output.split())
        assert result.exit_code == 2 and 'is not writable' in text and 'Traceback' not in result.output, text
    finally:
        folder.chmod(0o755)


@contextlib.contextmanager
def plain_open_clip():
    """open_clip as a process that never imported mmtard sees it: its own model configs only."""
    import open_clip.factory as factory

    paths, configs = factory._MODEL_CONFIG_PATHS, factory._MODEL_CONFIGS
    factory._MODEL_CONFIG_PATHS = [Path(factory.__file__).parent / 'model_configs']
    factory._MODEL_CONFIGS = {}
    factory._rescan_model_configs()
    try:
        assert ARCH not in open_clip.list_models()
        yield
    finally:
        factory._MODEL_CONFIG_PATHS, factory._MODEL_CONFIGS = paths, configs


def run_load_line(line):
    """The printed load line, run as a user pastes it (open_clip and torch imported, mmtard not)."""
    namespace = {'open_clip': open_clip, 'torch': torch}
    with plain_open_clip():
        exec(line, namespace)
    return namespace['model'].eval()


@pytest.mark.parametrize('fmt, name', [('open_clip', 'student.safetensors'), ('open_clip', 'student.pt'),
                                       ('vision', 'vision.pt')])
def test_the_printed_load_line_works_in_open_clip_without_mmtard(trained, start_weights, images, tmp_path, fmt, name):
    """mmtard-tiny-vit exists only once mmtard is imported: the export writes its model config beside
    the weights and the line registers it first."""
    out = tmp_path / name
    result = export(trained, fmt, out)
    config = out.with_suffix('.json')
    assert result.load_with.startswith(f'open_clip.add_model_config({str(config)!r}); model = ')
    assert json.loads(config.read_text()) == open_clip.get_model_config(ARCH)
    assert oct(config.stat().st_mode & 0o777) == oct(0o666 & ~umask())
    if fmt == 'vision':  # the CLIP the student started from is a plain state dict open_clip loads
        assert f'pretrained={str(start_weights)!r}' in result.load_with
    model = run_load_line(result.load_with)
    encoder = OpenCLIPEncoder(ARCH)
    got = open_clip_logits(model, open_clip.get_tokenizer(ARCH), images, encoder.pixel_mean, encoder.pixel_std)
    torch.testing.assert_close(got, trained_model_logits(trained, start_weights, images), rtol=1e-5, atol=1e-5)


def test_the_hub_folder_loads_in_open_clip_without_mmtard(trained, tmp_path):
    """The folder's open_clip_config.json holds the model config: no add_model_config needed."""
    result = export(trained, 'hf-hub', tmp_path / 'hub')
    assert 'add_model_config' not in result.load_with
    model = run_load_line(f'model = {result.load_with}')
    local = open_clip.create_model(f'local-dir:{result.path}')
    assert all(torch.equal(v, local.state_dict()[k]) for k, v in model.state_dict().items())


def test_a_vision_export_never_points_open_clip_at_an_mmtard_checkpoint(trained, tmp_path):
    """A student started from an earlier stage's iter_N.pth: plain open_clip cannot read that file."""
    encoder = trained_a_little(OpenCLIPEncoder(ARCH))
    checkpoint = handmade_checkpoint(tmp_path / 'iter_7.pth', dict(type='OpenCLIPEncoder', arch=ARCH,
                                                                   pretrained=str(trained)), encoder)
    result = export(checkpoint, 'vision', tmp_path / 'vision.pt')
    assert 'pretrained=' not in result.load_with
    assert f"came from {str(trained)!r}, which plain open_clip cannot load" in result.load_with
    assert 'export --format open_clip for the full CLIP' in result.load_with
    model = run_load_line(result.load_with)
    assert all(torch.equal(model.visual.state_dict()[k], v) for k, v in encoder.model.visual.state_dict().items())


def test_an_export_never_replaces_a_model_config_and_leaves_none_when_it_fails(trained, tmp_path, monkeypatch):
    import mmtard.interop.exporters

    taken = tmp_path / 'taken.json'
    taken.write_text('{}')
    with pytest.raises(RunDirectoryExistsError, match="taken.json' already exists.*Remove it or choose another"):
        export(trained, 'open_clip', tmp_path / 'taken.safetensors')
    with pytest.raises(ConfigError, match="'ViT-B-32' is an open_clip architecture"):
        export(trained, 'open_clip', tmp_path / 'ViT-B-32.safetensors')

    def full_disk(state, path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(mmtard.interop.exporters, 'save_weights', full_disk)
    with pytest.raises(Exception, match='is full'):
        export(trained, 'open_clip', tmp_path / 'student.safetensors')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['taken.json'], 'no weights, no model config'


def test_temporaries_of_a_killed_export_are_removed_by_the_next(trained, tmp_path):
    """A kill mid-write leaves `.x.safetensors.<pid>.tmp` (hundreds of MB for a real model)."""
    dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'], capture_output=True, text=True)
    pid = int(dead.stdout)  # a process that has exited
    left = [tmp_path / f'.x.safetensors.{pid}.tmp', tmp_path / f'.x.json.{pid}.tmp']
    running = tmp_path / f'.x.safetensors.{os.getppid()}.tmp'  # a live writer's is not touched
    for path in (*left, running):
        path.write_bytes(b'half an export')
    export(trained, 'open_clip', tmp_path / 'x.safetensors')
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(['x.safetensors', 'x.json', running.name])


def test_a_vision_line_takes_open_clips_own_ways_to_the_text_tower(start_weights, tmp_path):
    from mmtard.interop.export_loading import open_clip_loadable, vision_line

    hub = vision_line(OpenCLIPEncoder(ARCH), tmp_path / 'v.pt', 'hf-hub:org/robust')  # open_clip's model name
    assert hub == f"model = open_clip.create_model('hf-hub:org/robust'); model.visual.load_state_dict(" \
                  f"torch.load({str(tmp_path / 'v.pt')!r}))"
    assert open_clip_loadable('ViT-B-32', 'openai') and open_clip_loadable(ARCH, str(start_weights))
    assert not open_clip_loadable(ARCH, 'hf-hub:org/robust') and not open_clip_loadable(ARCH, 'openai')
