"""Weights from files load exactly; anything that does not fit is a CheckpointError naming keys."""
import numpy as np
import pytest
import timm
import torch
from mmengine.logging import HistoryBuffer

from mmtard.errors import CheckpointError, ConfigError
from mmtard.checkpoint import (WRAPPER_PREFIXES, is_weight_file_path, load_state_dict_file, read_checkpoint,
                               state_mismatch, strip_prefixes)
from mmtard.models.encoders import OpenCLIPEncoder, TimmEncoder
from mmtard.models.teacher import FrozenTeacher

TINY_VIT = 'mmtard-tiny-vit'


def assert_same_weights(model, reference_state):
    state = model.state_dict()
    assert state.keys() == reference_state.keys()
    for key, value in reference_state.items():
        assert torch.equal(state[key], value), key


def mmengine_checkpoint(state_dict):
    """What mmengine's Runner writes, including the pickled objects weights_only must allow."""
    history = HistoryBuffer()
    history.update(1.5)
    return {'meta': {'iter': 10, 'seed': np.int64(0)}, 'state_dict': state_dict,
            'message_hub': {'log_scalars': {'train/loss': history}, 'runtime_info': {'iter': np.int64(10)}},
            'optimizer': {'state': {}, 'param_groups': [{'lr': 0.1, 'params': [0]}]}}


@pytest.mark.parametrize('file_key', ['full_pt', 'full_st'])
def test_full_state_dict_round_trip(tiny_vit_files, file_key, images):
    encoder = OpenCLIPEncoder(TINY_VIT, pretrained=tiny_vit_files[file_key])
    assert_same_weights(encoder.model, tiny_vit_files['state'])


@pytest.mark.parametrize('file_key', ['vision_pt', 'vision_st', 'vision_prefixed_pt'])
def test_vision_only_state_dict_with_text_tower_from_another_file(tiny_vit_files, file_key):
    encoder = OpenCLIPEncoder(TINY_VIT, pretrained=tiny_vit_files[file_key], text_pretrained=tiny_vit_files['full_pt'])
    assert_same_weights(encoder.model, tiny_vit_files['state'])


def test_vision_only_state_dict_alone_names_the_missing_text_tower(tiny_vit_files):
    with pytest.raises(CheckpointError, match='text_pretrained='):
        OpenCLIPEncoder(TINY_VIT, pretrained=tiny_vit_files['vision_pt'])


def test_text_pretrained_with_a_full_checkpoint_is_ambiguous(tiny_vit_files):
    with pytest.raises(ConfigError, match='text_pretrained'):
        OpenCLIPEncoder(TINY_VIT, pretrained=tiny_vit_files['full_pt'], text_pretrained=tiny_vit_files['full_pt'])


def test_mmtard_checkpoint_loads_the_student_by_default_and_other_parts_by_prefix(tmp_path, tiny_vit_files, images):
    torch.manual_seed(3)
    student = OpenCLIPEncoder(TINY_VIT)
    teacher = FrozenTeacher(OpenCLIPEncoder(TINY_VIT, pretrained=tiny_vit_files['full_pt']))
    distiller = torch.nn.ModuleDict({'student': student, 'teacher': teacher})
    path = str(tmp_path / 'iter_10.pth')
    torch.save(mmengine_checkpoint(distiller.state_dict()), path)

    assert_same_weights(OpenCLIPEncoder(TINY_VIT, pretrained=path), student.state_dict())
    loaded_teacher = OpenCLIPEncoder(TINY_VIT, pretrained=path, prefix='teacher')
    assert_same_weights(loaded_teacher.model, tiny_vit_files['state'])
    torch.testing.assert_close(loaded_teacher(images), teacher(images))
    with pytest.raises(CheckpointError, match=r"prefix 'robust'.*'student', 'teacher'"):
        OpenCLIPEncoder(TINY_VIT, pretrained=path, prefix='robust')


def test_mmengine_checkpoint_reads_with_weights_only(tmp_path):
    path = str(tmp_path / 'ckpt.pth')
    torch.save(mmengine_checkpoint({'student.w': torch.ones(2)}), path)
    content = read_checkpoint(path)
    assert content['message_hub']['log_scalars']['train/loss'].current() == 1.5
    assert list(load_state_dict_file(path)) == ['w']


def test_ddp_module_prefix_is_removed(tmp_path, tiny_vit_files):
    path = str(tmp_path / 'ddp.pt')
    torch.save({'model': {f'module.{k}': v for k, v in tiny_vit_files['state'].items()}}, path)
    assert_same_weights(OpenCLIPEncoder(TINY_VIT, pretrained=path).model, tiny_vit_files['state'])


def test_wrong_shape_names_the_key(tmp_path, tiny_vit_files):
    state = dict(tiny_vit_files['state'])
    state['visual.proj'] = torch.zeros(64, 32)
    path = str(tmp_path / 'bad.pt')
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r'wrong shape: proj \(file \(64, 32\), model \(64, 64\)\)'):
        OpenCLIPEncoder(TINY_VIT, pretrained=path)


def test_wrong_architecture_names_missing_and_unexpected_keys(tiny_vit_files):
    with pytest.raises(CheckpointError) as err:
        OpenCLIPEncoder('mmtard-tiny-rn', pretrained=tiny_vit_files['full_pt'])
    message = str(err.value)
    assert 'missing: ' in message and 'bn1.weight' in message
    assert 'unexpected: ' in message and 'class_embedding' in message


def test_missing_text_keys_are_reported(tmp_path, tiny_vit_files):
    state = {k: v for k, v in tiny_vit_files['state'].items() if k != 'ln_final.weight'}
    path = str(tmp_path / 'partial.safetensors')
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in state.items()}, path)
    with pytest.raises(CheckpointError, match='1 missing: ln_final.weight'):
        OpenCLIPEncoder(TINY_VIT, pretrained=path)


@pytest.mark.parametrize('pretrained', ['/no/such/file.pt', 'no_such_tag'])
def test_missing_file_or_unknown_tag(pretrained):
    with pytest.raises(CheckpointError, match='file|tag'):
        OpenCLIPEncoder(TINY_VIT, pretrained=pretrained)


def test_unknown_tag_lists_the_architectures_tags():
    with pytest.raises(CheckpointError, match="Did you mean 'openai'"):
        OpenCLIPEncoder('ViT-B-32', pretrained='opnai')


def test_a_failed_download_is_a_checkpoint_error(monkeypatch):
    """A URL tag whose host answers but whose download fails says what to do instead."""
    def offline(*args, **kwargs):
        raise OSError('[Errno 101] Network is unreachable')

    monkeypatch.setattr('open_clip.pretrained.get_pretrained_cfg', lambda arch, tag: {'url': 'https://example.invalid/x.pt'})
    monkeypatch.setattr('mmtard.models.encoders.open_clip_encoder.url_reachable', lambda url: True)
    monkeypatch.setattr('open_clip.pretrained.download_pretrained', offline)
    with pytest.raises(CheckpointError, match=r'could not be downloaded.*point `pretrained=` at the local'):
        OpenCLIPEncoder('ViT-B-32', pretrained='openai')


def test_an_unreachable_url_tag_fails_before_any_download(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError('no download may be tried')

    monkeypatch.setattr('open_clip.pretrained.get_pretrained_cfg', lambda arch, tag: {'url': 'https://example.invalid/x.pt'})
    monkeypatch.setattr('open_clip.pretrained.download_pretrained', forbidden)
    with pytest.raises(CheckpointError, match=r'example.invalid cannot be reached .* --pretrained FILE'):
        OpenCLIPEncoder('ViT-B-32', pretrained='openai')  # HF_HUB_OFFLINE=1 (tests/conftest.py): no probe either


def test_hub_weights_offline_are_a_checkpoint_error_saying_what_to_do():
    """HF_HUB_OFFLINE=1 (tests/conftest.py): an uncached hub id is refused before any download is tried."""
    with pytest.raises(CheckpointError, match=r'hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K: not in the local '
                                              r'Hugging Face cache.*local-dir:'):
        OpenCLIPEncoder('ViT-B-32', pretrained='hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K')


def test_weight_tag_selects_its_activation_and_normalisation(monkeypatch, tmp_path, images):
    """A tag's QuickGELU and mean/std must apply even though mmtard loads the downloaded file itself."""
    torch.manual_seed(0)
    reference = OpenCLIPEncoder(TINY_VIT, quick_gelu=True, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    path = str(tmp_path / 'tagged.pt')
    torch.save(reference.model.state_dict(), path)
    tag_cfg = {'url': 'https://example.invalid/tagged.pt', 'quick_gelu': True,
               'mean': (0.5, 0.5, 0.5), 'std': (0.25, 0.25, 0.25)}
    monkeypatch.setattr('open_clip.pretrained.get_pretrained_cfg',
                        lambda arch, tag: tag_cfg if (arch, tag) == (TINY_VIT, 'tagged') else {})
    monkeypatch.setattr('open_clip.pretrained.download_pretrained', lambda cfg, **kwargs: path)
    monkeypatch.setattr('mmtard.models.encoders.open_clip_encoder.url_reachable', lambda url: True)
    encoder = OpenCLIPEncoder(TINY_VIT, pretrained='tagged')
    assert encoder.architecture == f'open_clip:{TINY_VIT}:quickgelu'
    assert encoder.pixel_std == (0.25, 0.25, 0.25)
    torch.testing.assert_close(encoder(images), reference(images))
    plain = OpenCLIPEncoder(TINY_VIT, pretrained=path, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    assert not torch.allclose(plain(images), reference(images))  # GELU instead of QuickGELU


@pytest.mark.filterwarnings('ignore::FutureWarning')
def test_torchscript_files_are_read_as_state_dicts(tmp_path):
    path = str(tmp_path / 'scripted.pt')
    torch.jit.trace(torch.nn.Linear(2, 2), torch.ones(1, 2)).save(path)
    assert set(read_checkpoint(path)) == {'weight', 'bias'}


class TestTimmCheckpoints:
    def test_imagenet_backbone_file_loads_without_its_classifier(self, tmp_path):
        torch.manual_seed(0)
        backbone = timm.create_model('test_resnet', num_classes=10)
        path = str(tmp_path / 'resnet.safetensors')
        from safetensors.torch import save_file

        save_file(backbone.state_dict(), path)
        student = TimmEncoder('test_resnet', pretrained=path, text_tower=dict(arch=TINY_VIT), image_size=32)
        for key, value in student.trunk.state_dict().items():
            assert torch.equal(value, backbone.state_dict()[key]), key

    def test_whole_student_round_trip_through_mmengine_checkpoint(self, tmp_path, images):
        torch.manual_seed(0)
        student = TimmEncoder('test_vit', text_tower=dict(arch=TINY_VIT), image_size=32).eval()
        path = str(tmp_path / 'student.pth')
        torch.save(mmengine_checkpoint({f'student.{k}': v for k, v in student.state_dict().items()}), path)
        loaded = TimmEncoder('test_vit', pretrained=path, text_tower=dict(arch=TINY_VIT), image_size=32).eval()
        assert_same_weights(loaded, student.state_dict())
        torch.testing.assert_close(loaded(images), student(images))

    def test_backbone_of_another_architecture_is_rejected(self, tmp_path):
        path = str(tmp_path / 'vit.pt')
        torch.save(timm.create_model('test_vit').state_dict(), path)
        with pytest.raises(CheckpointError, match='timm backbone weights.*missing'):
            TimmEncoder('test_resnet', pretrained=path, text_tower=dict(arch=TINY_VIT))


@pytest.mark.parametrize('make, match', [
    (lambda path: path.mkdir(), 'is a folder'),
    (lambda path: path.write_bytes(b''), r'is empty \(0 bytes\)'),
    (lambda path: path.write_bytes(b'PK\x03\x04 cut short'), 'truncated or not a torch file'),
])
def test_unreadable_weight_files_say_what_is_wrong(tmp_path, make, match):
    path = tmp_path / 'weights.pt'
    make(path)
    with pytest.raises(CheckpointError, match=match):
        read_checkpoint(str(path))


def test_weights_of_something_else_are_not_mistaken_for_a_vision_only_tower(tmp_path):
    path = tmp_path / 'other.pt'
    torch.save({'backbone.conv.weight': torch.zeros(1)}, path)
    with pytest.raises(CheckpointError, match="fit neither a full CLIP nor a vision-only") as err:
        OpenCLIPEncoder(TINY_VIT, pretrained=str(path))
    assert 'backbone.conv.weight' in str(err.value)


@pytest.mark.parametrize('arch, file_keys', [(TINY_VIT, 'bn1, fc, layer1, layer2, layer3 (and 1 more)'),
                                             ('mmtard-tiny-rn', 'fc, layer1, layer2, layer3, layer4')])
def test_a_resnet_18_state_dict_is_not_taken_for_a_vision_only_clip_tower(tmp_path, arch, file_keys):
    """ResNet-18 shares conv1/bn1/layer1 names with CLIP's image towers (all of them, for a ModifiedResNet)."""
    path = tmp_path / 'resnet18.pt'
    torch.save(timm.create_model('resnet18').state_dict(), path)
    with pytest.raises(CheckpointError, match='fit neither a full CLIP nor a vision-only image tower') as err:
        OpenCLIPEncoder(arch, pretrained=str(path))
    message = str(err.value)
    assert 'FARE/TeCoA' not in message and 'text_pretrained' not in message
    assert f"the file's other keys start with {file_keys}, the model's with" in message


def test_state_mismatch_names_each_kind_of_difference_and_what_the_keys_look_like():
    state = {'a': torch.zeros(2), 'c.x': torch.zeros(1)}
    expected = {'a': torch.zeros(3), 'b.y': torch.zeros(1)}
    assert state_mismatch(state, expected) == (
        "1 wrong shape: a (file (2,), model (3,)); 1 missing: b.y; 1 unexpected: c.x. Only 0 of the model's 2 "
        "weights are in the file with their shape: the file's other keys start with c, the model's with b")
    assert state_mismatch(expected, expected) is None
    assert state_mismatch({'a': torch.zeros(3)}, expected, may_be_missing=lambda key: key == 'b.y') is None


@pytest.mark.parametrize('name, content, match', [
    ('weights.pt', 'version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 9\n',
     "is a text file, not a torch file of weights: it begins 'version https://git-lfs.*git lfs pull"),
    ('weights.safetensors', "_base_ = ['tiny.py']\n", "is a text file.*it begins \"_base_ = \\['tiny.py'\\]\""),
])
def test_a_text_file_given_as_weights_is_named_as_such(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(CheckpointError, match=match):
        read_checkpoint(str(path))


def test_an_image_given_as_weights_is_named_as_such_and_a_cut_torch_file_is_not(tmp_path):
    """An image is not a torch file: say which kind of file it is, without torch's advice about pickles;
    a torch file cut short keeps the truncation advice."""
    from PIL import Image

    Image.new('RGB', (4, 4)).save(tmp_path / 'photo.png')
    with pytest.raises(CheckpointError, match=r"is not a torch file of weights: it begins with the bytes 89 50 4e 47 "
                                              r".*\(a PNG image\)") as err:
        read_checkpoint(str(tmp_path / 'photo.png'))
    assert 'weights_only' not in str(err.value)
    torch.save({'w': torch.zeros(64)}, tmp_path / 'cut.pt')
    data = (tmp_path / 'cut.pt').read_bytes()
    (tmp_path / 'cut.pt').write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointError, match='truncated or not a torch file'):
        read_checkpoint(str(tmp_path / 'cut.pt'))


@pytest.mark.parametrize('value, is_file', [('openai', False), ('laion2b_s34b_b79k', False), ('hf-hub:org/name', False),
                                            ('teacher.pt', True), ('weights.safetensors', True), ('runs/x', True),
                                            (None, False)])
def test_a_pretrained_value_names_a_file_or_a_tag(value, is_file):
    assert is_weight_file_path(value) is is_file


def test_strip_prefixes_removes_only_prefixes_every_key_shares_as_often_as_they_nest():
    one = torch.zeros(1)
    wrapped = {'encoder.model.visual.a': one, 'encoder.model.text.b': one}  # FrozenTeacher(OpenCLIPEncoder)
    assert strip_prefixes(wrapped, WRAPPER_PREFIXES) == {'visual.a': one, 'text.b': one}
    mixed = {'model.a': one, 'b': one}  # not common to every key: left alone
    assert strip_prefixes(mixed, WRAPPER_PREFIXES) == mixed
    assert strip_prefixes({}, WRAPPER_PREFIXES) == {}
