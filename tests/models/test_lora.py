"""LoRA adapters: start exactly at the base model, train only adapters, survive checkpoints."""
import pytest
import torch
from torch import nn

from mmtard.errors import CheckpointError, ConfigError
from mmtard.models.encoders import OpenCLIPEncoder, TimmEncoder, apply_lora, parameter_report
from mmtard.models.encoders.lora import LoRAMultiheadAttention, is_lora_key

TINY_VIT = 'mmtard-tiny-vit'
LORA = dict(r=4, alpha=8, dropout=0.1)


def perturb_adapters(module):
    with torch.no_grad():
        for name, param in module.named_parameters():
            if name.endswith('lora_B'):
                param.normal_()


def test_adapted_encoder_starts_identical_to_its_base(tiny_vit_files, images):
    base = OpenCLIPEncoder(TINY_VIT, pretrained=tiny_vit_files['full_pt']).eval()
    adapted = OpenCLIPEncoder(TINY_VIT, pretrained=tiny_vit_files['full_pt'], lora=LORA).eval()
    torch.testing.assert_close(adapted(images), base(images), rtol=0, atol=1e-6)
    assert any(isinstance(m, LoRAMultiheadAttention) for m in adapted.modules())


def test_only_adapters_train_and_the_fraction_is_reported():
    encoder = OpenCLIPEncoder(TINY_VIT, lora=LORA)
    trainable = [name for name, p in encoder.named_parameters() if p.requires_grad]
    assert trainable and all(is_lora_key(name) for name in trainable)
    # qkv: A (4x64) + B (192x4); out_proj: A (4x64) + B (64x4); 2 blocks.
    report = parameter_report(encoder)
    assert report['trainable'] == 2 * (4 * 64 + 192 * 4 + 4 * 64 + 64 * 4)
    assert report['total'] == sum(p.numel() for p in encoder.parameters())
    assert report['fraction'] == pytest.approx(report['trainable'] / report['total'])


def test_adapters_receive_gradients_and_change_the_output(images):
    encoder = OpenCLIPEncoder(TINY_VIT, lora=dict(LORA, dropout=0.0))
    before = encoder(images).detach()
    encoder(images).sum().backward()
    grads = {n: p.grad for n, p in encoder.named_parameters() if p.requires_grad}
    assert all(g is not None for g in grads.values())
    assert any(g.abs().sum() > 0 for n, g in grads.items() if n.endswith('lora_B'))
    perturb_adapters(encoder)
    assert not torch.allclose(encoder(images), before)


@pytest.mark.parametrize('batch_first', [True, False])
@pytest.mark.parametrize('mask', [None, 'float', 'bool'])
def test_lora_attention_matches_multihead_attention(batch_first, mask):
    torch.manual_seed(0)
    base = nn.MultiheadAttention(16, 4, batch_first=batch_first).eval()
    x = torch.randn(2, 5, 16) if batch_first else torch.randn(5, 2, 16)
    causal = torch.ones(5, 5, dtype=torch.bool).triu(1)
    attn_mask = {None: None, 'bool': causal, 'float': torch.zeros(5, 5).masked_fill(causal, float('-inf'))}[mask]
    expected = base(x, x, x, need_weights=False, attn_mask=attn_mask)[0]
    adapted = LoRAMultiheadAttention(base, r=2, alpha=2, dropout=0., adapt_qkv=True, adapt_out=True).eval()
    torch.testing.assert_close(adapted(x, x, x, attn_mask=attn_mask)[0], expected)


def test_lora_keeps_base_keys_so_plain_clip_weights_load(tiny_vit_files):
    encoder = OpenCLIPEncoder(TINY_VIT, pretrained=tiny_vit_files['full_pt'], lora=LORA)
    state = encoder.model.state_dict()
    for key, value in tiny_vit_files['state'].items():
        assert torch.equal(state[key], value), key


def test_lora_checkpoint_round_trip(tmp_path, images):
    trained = OpenCLIPEncoder(TINY_VIT, lora=LORA).eval()
    perturb_adapters(trained)
    path = str(tmp_path / 'lora_student.pth')
    torch.save({'state_dict': {f'student.{k}': v for k, v in trained.state_dict().items()}}, path)
    loaded = OpenCLIPEncoder(TINY_VIT, pretrained=path, lora=LORA).eval()
    torch.testing.assert_close(loaded(images), trained(images), rtol=0, atol=0)
    with pytest.raises(CheckpointError, match='LoRA adapters: build the encoder with the same lora='):
        OpenCLIPEncoder(TINY_VIT, pretrained=path)


def test_timm_vit_lora_adapts_qkv_and_proj_and_trains_the_projection():
    student = TimmEncoder('test_vit', text_tower=dict(arch=TINY_VIT), image_size=32, lora=LORA)
    trainable = {name for name, p in student.named_parameters() if p.requires_grad}
    assert trainable == {n for n in trainable if is_lora_key(n)} | {'proj.weight'}
    assert any('.qkv.lora.' in n for n in trainable) and any('attn.proj.lora.' in n for n in trainable)


@pytest.mark.parametrize('build, match', [
    (lambda: OpenCLIPEncoder('mmtard-tiny-rn', lora=LORA), 'ViT image towers'),
    (lambda: OpenCLIPEncoder(TINY_VIT, lora=dict(LORA, target_modules=('query',))), "can adapt here: .*'qkv'"),
    (lambda: OpenCLIPEncoder(TINY_VIT, lora=dict(LORA, rank=4)), 'Bad lora= options'),
    (lambda: OpenCLIPEncoder(TINY_VIT, lora=dict(LORA, r=0)), 'r >= 1'),
])
def test_bad_lora_settings_are_config_errors(build, match):
    with pytest.raises(ConfigError, match=match):
        build()


def test_apply_lora_on_plain_linear_layers():
    model = nn.Sequential()
    model.add_module('qkv', nn.Linear(8, 24))
    model.add_module('head', nn.Linear(24, 2))
    x = torch.randn(3, 8)
    before = model(x)
    apply_lora(model, r=2, alpha=4, dropout=0., target_modules=('qkv',))
    torch.testing.assert_close(model(x), before)
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {'qkv.lora.lora_A', 'qkv.lora.lora_B'}


def test_parameter_report_of_a_frozen_module():
    report = parameter_report(nn.Linear(4, 4).requires_grad_(False))
    assert report == {'trainable': 0, 'total': 20, 'fraction': 0.0}
