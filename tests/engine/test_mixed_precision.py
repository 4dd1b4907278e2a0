"""bf16 autocast training (`--amp`) keeps its fp32 parts fp32; gradient checkpointing changes memory, not maths."""
import contextlib

import pytest
import torch
from click.testing import CliRunner

from mmtard.checkpoint import read_checkpoint
from mmtard.cli.main import cli
from mmtard.engine.amp import BF16AmpOptimWrapper
from mmtard.errors import ConfigError
from mmtard.models import distillers
from mmtard.models.encoders import OpenCLIPEncoder, TimmEncoder
from mmtard.registry import MODELS

from shared_inputs import FAST, TINY

TINY_VIT = dict(type='OpenCLIPEncoder', arch='mmtard-tiny-vit')


def test_train_with_amp_trains_the_tiny_config(tmp_path):
    work = tmp_path / 'amp'
    result = CliRunner().invoke(cli, ['train', str(TINY), '--work-dir', str(work), '--amp', *FAST],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    checkpoint = read_checkpoint(str(work / 'iter_4.pth'))
    assert 'BF16AmpOptimWrapper' in checkpoint['meta']['cfg'] and checkpoint['optimizer']['loss_scaler'] == {}
    weights = checkpoint['state_dict']
    assert all(v.dtype == torch.float32 for k, v in weights.items() if v.is_floating_point())  # master weights
    assert checkpoint['optimizer']['state'], 'the optimizer stepped'


@pytest.fixture
def distiller():
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='MMTARD', student=TINY_VIT,
        teachers=[dict(name='clean', encoder=TINY_VIT, teacher_input='clean'),
                  dict(name='robust', encoder=TINY_VIT, teacher_input='adv')],
        attack=dict(type='PGD', eps=4, steps=2, step_size=1, momentum=0.9, seed=0)))
    model.set_classes(['a', 'b', 'c'], ['a photo of a {}.'])
    return model.train()


@contextlib.contextmanager
def recording(obj, name, store):
    """Record the outputs of ``obj.name(...)`` into ``store``."""
    original = getattr(obj, name)

    def wrapped(*args, **kwargs):
        out = original(*args, **kwargs)
        store.append(out)
        return out

    setattr(obj, name, wrapped)
    try:
        yield
    finally:
        setattr(obj, name, original)


def test_bf16_step_keeps_attack_logits_and_kl_in_fp32(distiller, monkeypatch):
    wrapper = BF16AmpOptimWrapper(optimizer=torch.optim.SGD(distiller.student.parameters(), lr=0.1))
    logits, attacks, kls, block_outputs = [], [], [], []
    kl_per_class = distillers.kl_per_class
    monkeypatch.setattr(distillers, 'kl_per_class', lambda *a: kls.append(kl_per_class(*a)) or kls[-1])
    first_mlp = distiller.student.model.visual.transformer.resblocks[0].mlp.c_fc
    first_mlp.register_forward_hook(lambda module, args, out: block_outputs.append(out.dtype))
    images = torch.rand(4, 3, 32, 32)
    with recording(distiller, 'zero_shot_logits', logits), recording(distiller.attack, 'perturb', attacks), \
            wrapper.optim_context(distiller):
        out = distiller.loss(images, torch.tensor([0, 1, 2, 0]), None)
    assert torch.bfloat16 in block_outputs, 'autocast ran the student in bf16'
    assert attacks[0].adv.dtype == torch.float32 and attacks[0].adv.requires_grad is False
    assert ((attacks[0].adv - images).abs().max() <= 4 / 255 + 1e-6)
    assert logits and all(t.dtype == torch.float32 for t in logits)
    assert len(kls) == 2 and all(t.dtype == torch.float32 for t in kls)
    assert out['loss'].dtype == torch.float32 and torch.isfinite(out['loss'])
    wrapper.update_params(out['loss'])
    assert all(p.dtype == torch.float32 for p in distiller.student.parameters())


def test_bf16_wrapper_state_round_trips_in_amp_format():
    param = torch.nn.Parameter(torch.ones(3))
    wrapper = BF16AmpOptimWrapper(optimizer=torch.optim.AdamW([param], lr=0.1))
    wrapper.update_params((param ** 2).sum())
    state = wrapper.state_dict()
    assert state['loss_scaler'] == {} and state['state']
    restored = BF16AmpOptimWrapper(optimizer=torch.optim.AdamW([torch.nn.Parameter(torch.ones(3))], lr=0.1))
    restored.load_state_dict(state)
    restored_moment = restored.optimizer.state_dict()['state'][0]['exp_avg']
    assert torch.equal(restored_moment, wrapper.optimizer.state[param]['exp_avg'])


def saved_bytes_and_grads(encoder, images):
    """Bytes of the tensors autograd keeps for backward (activations), and the image-tower gradients."""
    sizes = []

    def pack(tensor):
        sizes.append(tensor.numel() * tensor.element_size())
        return tensor

    encoder.zero_grad()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = encoder(images).square().sum()
    loss.backward()
    return sum(sizes), {n: p.grad.clone() for n, p in encoder.named_parameters() if p.grad is not None}


@pytest.mark.parametrize('build', [
    lambda **kw: OpenCLIPEncoder('mmtard-tiny-vit', **kw),
    lambda **kw: TimmEncoder('test_vit', text_tower=dict(arch='mmtard-tiny-vit'), image_size=32, **kw),
], ids=['open_clip', 'timm'])
def test_grad_checkpointing_keeps_the_maths_and_stores_fewer_activations(build):
    torch.manual_seed(0)
    plain = build()
    checkpointed = build(grad_checkpointing=True)
    checkpointed.load_state_dict(plain.state_dict())
    images = torch.rand(4, 3, 32, 32)
    stored, grads = saved_bytes_and_grads(plain.train(), images)
    stored_ckpt, grads_ckpt = saved_bytes_and_grads(checkpointed.train(), images)
    assert grads.keys() == grads_ckpt.keys() and grads
    for name in grads:
        torch.testing.assert_close(grads_ckpt[name], grads[name], rtol=1e-5, atol=1e-6)
    assert stored_ckpt < 0.7 * stored


def test_grad_checkpointing_of_a_resnet_tower_is_refused():
    with pytest.raises(ConfigError, match='grad_checkpointing is implemented for ViT image towers'):
        OpenCLIPEncoder('mmtard-tiny-rn', grad_checkpointing=True)
