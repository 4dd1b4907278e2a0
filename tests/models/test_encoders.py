"""Every registered teacher/student: embedding contract, preprocessing inside, freezing, FrozenTeacher."""
import pytest
import torch
import torch.nn.functional as F

from mmtard.errors import CheckpointError, ConfigError
from mmtard.models.encoders import ImageTextEncoder, OpenCLIPEncoder, TimmEncoder
from mmtard.models.teacher import FrozenTeacher
from mmtard.models.zero_shot import ZeroShotClassifier

TINY_VIT = 'mmtard-tiny-vit'


def test_every_registered_encoder_has_a_tiny_config(registered_encoders, tiny_configs):
    names = {name for _, name in registered_encoders}
    assert {'OpenCLIPEncoder', 'TimmEncoder'} <= names
    missing = sorted(names - set(tiny_configs))
    assert not missing, f'add tiny test settings for {missing} to tests/models/conftest.py'


def test_open_clip_encoder_is_both_teacher_and_student():
    from mmtard.registry import STUDENTS, TEACHERS

    assert TEACHERS.get('OpenCLIPEncoder') is OpenCLIPEncoder is STUDENTS.get('OpenCLIPEncoder')
    assert STUDENTS.get('TimmEncoder') is TimmEncoder


def test_embedding_contract(encoder_cfg, images, classnames, templates):
    registry, cfg = encoder_cfg
    torch.manual_seed(0)
    encoder = registry.build(cfg)
    assert isinstance(encoder, ImageTextEncoder)
    embedding = encoder(images)
    assert embedding.shape == (2, encoder.embed_dim) and embedding.dtype == torch.float32
    torch.testing.assert_close(embedding.norm(dim=-1), torch.ones(2))
    weights = encoder.class_embeddings(classnames, templates)
    assert weights.shape == (3, encoder.embed_dim)
    torch.testing.assert_close(weights.norm(dim=-1), torch.ones(3))
    logits = ZeroShotClassifier(encoder, weights)(images)
    assert logits.shape == (2, 3) and torch.isfinite(logits).all()
    assert logits.abs().max() <= 100 + 1e-3
    big = torch.rand(2, 3, 48, 48, requires_grad=True)  # gradients reach the pixels through the resize
    encoder(big).sum().backward()
    assert big.grad is not None and big.grad.abs().sum() > 0


def test_normalisation_and_resize_happen_inside(encoder_cfg):
    registry, cfg = encoder_cfg
    encoder = registry.build(cfg).eval()
    mean = torch.tensor(encoder.pixel_mean).view(1, 3, 1, 1)
    std = torch.tensor(encoder.pixel_std).view(1, 3, 1, 1)
    constant = torch.full((1, 3, encoder.image_size, encoder.image_size), 0.3)
    manual = F.normalize(encoder.encode_image_features((constant - mean) / std), dim=-1)
    torch.testing.assert_close(encoder(constant), manual)
    big = torch.rand(1, 3, 2 * encoder.image_size, 2 * encoder.image_size)
    resized = F.interpolate(big, size=(encoder.image_size,) * 2, mode='bilinear', align_corners=False)
    torch.testing.assert_close(encoder(big), encoder(resized))


def test_only_the_image_side_trains(encoder_cfg):
    registry, cfg = encoder_cfg
    encoder = registry.build(cfg)
    text_names = {name for name, _ in encoder.text_parameters()}
    for name, param in encoder.named_parameters():
        is_text = name.split('.', 1)[1] in text_names
        assert param.requires_grad != is_text, name


def test_clip_and_timm_preprocessing_differ():
    clip = OpenCLIPEncoder(TINY_VIT)
    timm_student = TimmEncoder('test_resnet', text_tower=dict(arch=TINY_VIT), image_size=32)
    assert clip.pixel_mean == pytest.approx((0.48145466, 0.4578275, 0.40821073))
    assert timm_student.pixel_mean == (0.5, 0.5, 0.5)
    assert timm_student.image_size == 32 and timm_student.embed_dim == 64


def test_bf16_precision_returns_float32(images):
    encoder = OpenCLIPEncoder(TINY_VIT, precision='bf16')
    assert encoder.weight_dtype == torch.bfloat16
    assert encoder(images).dtype == torch.float32
    assert encoder.class_embeddings(['cat'], ['{}']).dtype == torch.float32


def test_bad_input_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r'\(B,3,H,W\)'):
        OpenCLIPEncoder(TINY_VIT)(torch.rand(3, 32, 32))


@pytest.mark.parametrize('build, match', [
    (lambda: OpenCLIPEncoder('mmtard-tiny-vti'), "Did you mean 'mmtard-tiny-vit'"),
    (lambda: OpenCLIPEncoder(TINY_VIT, precision='fp8'), 'precision'),
    (lambda: TimmEncoder('resnet5O', text_tower=dict(arch=TINY_VIT)), 'not a timm model'),
    (lambda: TimmEncoder('test_resnet', text_tower=dict(pretrained=None)), 'text_tower=dict'),
])
def test_bad_config_is_a_config_error(build, match):
    with pytest.raises(ConfigError, match=match):
        build()


def test_timm_download_failure_is_a_checkpoint_error(monkeypatch):
    def offline(*args, **kwargs):
        raise OSError('network unreachable')

    monkeypatch.setattr('timm.models._builder.load_pretrained', offline)
    with pytest.raises(CheckpointError, match='could not be downloaded.*local file'):
        TimmEncoder('test_resnet', pretrained=True, text_tower=dict(arch=TINY_VIT))


class TestFrozenTeacher:
    def test_weights_unchanged_by_an_optimizer_step_on_the_enclosing_model(self, images):
        teacher = FrozenTeacher(OpenCLIPEncoder(TINY_VIT))
        student = torch.nn.Linear(64, 64)
        model = torch.nn.ModuleDict({'teacher': teacher, 'student': student})
        before = {k: v.clone() for k, v in teacher.state_dict().items()}
        optimizer = torch.optim.AdamW(model.parameters(), lr=0.1, weight_decay=0.1)
        model.train()
        loss = student(teacher(images)).pow(2).sum()
        loss.backward()
        optimizer.step()
        assert all(torch.equal(before[k], v) for k, v in teacher.state_dict().items())
        assert not any(p.requires_grad for p in teacher.parameters())

    def test_stays_in_eval_mode(self):
        teacher = FrozenTeacher(OpenCLIPEncoder(TINY_VIT))
        torch.nn.Sequential(teacher).train()
        assert not teacher.training and not any(m.training for m in teacher.modules())

    def test_forward_builds_no_graph_and_exposes_the_encoder(self, images, classnames, templates):
        encoder = OpenCLIPEncoder(TINY_VIT)
        teacher = FrozenTeacher(encoder)
        assert not teacher(images.requires_grad_()).requires_grad
        assert teacher.embed_dim == 64 and teacher.image_size == 32
        torch.testing.assert_close(teacher.class_embeddings(classnames, templates),
                                   encoder.class_embeddings(classnames, templates))

    def test_bf16_teacher_outputs_float32_close_to_fp32(self, images):
        torch.manual_seed(0)
        fp32 = OpenCLIPEncoder(TINY_VIT).eval()
        reference = fp32(images)
        teacher = FrozenTeacher(fp32, precision='bf16')
        out = teacher(images)
        assert out.dtype == torch.float32
        assert F.cosine_similarity(out, reference).min() > 0.98


@pytest.mark.slow
@pytest.mark.parametrize('build', [
    pytest.param(lambda: OpenCLIPEncoder('ViT-L-14'), id='ViT-L-14'),
    pytest.param(lambda: OpenCLIPEncoder('ViT-B-32'), id='ViT-B-32'),
    pytest.param(lambda: OpenCLIPEncoder('RN50'), id='RN50'),
    pytest.param(lambda: OpenCLIPEncoder('RN101'), id='RN101'),
    pytest.param(lambda: OpenCLIPEncoder('ViT-B-32', lora=dict(r=16, alpha=16, dropout=0.1)), id='ViT-B-32-lora'),
    pytest.param(lambda: TimmEncoder('resnet50', text_tower=dict(arch='ViT-B-32')), id='timm-resnet50'),
])
def test_real_size_forward(build):
    encoder = build().eval()
    with torch.no_grad():
        embedding = encoder(torch.rand(1, 3, 224, 224))
    assert encoder.image_size == 224
    assert embedding.shape == (1, encoder.embed_dim)
    torch.testing.assert_close(embedding.norm(dim=-1), torch.ones(1))


def test_random_weights_config_builds_every_encoder_without_its_weight_files():
    from mmtard.config import with_random_weights

    missing = 'no/such/weights.pt'
    cfg = with_random_weights(dict(
        student=dict(type='TimmEncoder', arch='test_vit', image_size=32, pretrained=missing,
                     text_tower=dict(arch=TINY_VIT, pretrained=missing)),
        teacher=dict(type='OpenCLIPEncoder', arch=TINY_VIT, pretrained=missing, text_pretrained=missing)))
    assert cfg['student']['pretrained'] is cfg['student']['text_tower']['pretrained'] is None
    student = TimmEncoder(**{k: v for k, v in cfg['student'].items() if k != 'type'})
    teacher = OpenCLIPEncoder(**{k: v for k, v in cfg['teacher'].items() if k != 'type'})
    assert student.random_image_tower and teacher.random_image_tower
