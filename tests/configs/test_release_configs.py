"""The paper configs are the MMT-ARD release's recipe by default (the defaults of its
train/adversarial_distill_clip_ddp.py), mmtard's earlier choices are named variants, and every
config's name says its schedule."""
import math
import re
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from mmengine.registry import PARAM_SCHEDULERS

from mmtard.cli.main import cli
from mmtard.config import resolve_config
from mmtard.datasets.templates import get_templates

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / 'configs'
RELEASE = CONFIGS / 'mmtard' / 'mmtard_vit-b-32_vit-l-14-ce-pmg-aft_pgd10-eps4_5000it-b512_imagenet.py'
RELEASE_EPS2 = RELEASE.with_name(RELEASE.name.replace('eps4', 'eps2'))
EARLIER = CONFIGS / 'mmtard' / 'mmtard_vit-b-32_vit-l-14-ce-tecoa_pgd10-eps4_10e-b128_imagenet-80tpl.py'
CLEAN_TEACHER = CONFIGS / 'teachers' / 'clean-finetune_vit-l-14_none_no-attack_20000it-b32_imagenet.py'
#: Every ImageNet distillation config that follows the release's recipe (students, baseline, ablations).
RELEASE_FAMILY = sorted(p for folder in ('mmtard', 'single_teacher_ard', 'ablations')
                        for p in (CONFIGS / folder).glob('*_5000it-b512_imagenet.py'))
#: Every config, the demo's and study's stages (shipped inside the package) included.
ALL_CONFIGS = sorted(p for root in (CONFIGS, REPO / 'mmtard' / 'apps' / 'configs') for p in root.rglob('*.py')
                     if '_base_' not in p.parts)


def release_lr(step: int, base: float, warmup: int, steps: int) -> float:
    """The release's learning rate at optimizer step ``step`` (0-based): CLIP_benchmark's
    ``cosine_lr``, which the release first calls after step 0, so step 0 runs at ``base``."""
    if step == 0:
        return base
    if step < warmup:
        return base * (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / (steps - warmup))) * base


def lr_per_step(cfg) -> list:
    """The lr of every optimizer step, from the config's schedulers stepped as mmengine's hook does."""
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([param], lr=cfg.optim_wrapper.optimizer.lr)
    schedulers = [PARAM_SCHEDULERS.build(dict(s), default_args=dict(optimizer=optimizer)) for s in cfg.param_scheduler]
    lrs = []
    with pytest.warns(UserWarning):  # "scheduler.step() before optimizer.step()": no training here
        for _ in range(cfg.train_cfg.max_iters):
            lrs.append(optimizer.param_groups[0]['lr'])
            for scheduler in schedulers:
                scheduler.step()
    return lrs


def test_vit_b_32_paper_config_is_the_release_recipe():
    cfg = resolve_config(RELEASE)
    assert (cfg.train_cfg.type, cfg.train_cfg.max_iters) == ('IterBasedTrainLoop', 5000)
    assert cfg.train_dataloader.batch_size == 512
    assert cfg.auto_scale_lr == dict(base_batch_size=512, enable=False)
    assert dict(cfg.optim_wrapper.optimizer) == dict(type='AdamW', lr=2e-5, weight_decay=1e-4, fused=True)
    data = cfg.train_dataloader.dataset
    # resize 224 bicubic + centre crop is ImageFolderDataset's only transform: no augmentation option set
    assert set(data) == {'type', 'root', 'split', 'image_size', 'templates'}
    assert (data.type, data.split, data.image_size) == ('ImageFolderDataset', 'train', 224)
    assert get_templates(data.templates) == ['This is a photo of a {}']
    model = cfg.model
    assert (model.type, model.logit_scale, model.attack_target) == ('MMTARD', 100.0, 'clean')
    assert dict(model.student) == dict(type='OpenCLIPEncoder', arch='ViT-B-32', pretrained='openai')
    teachers = {t.name: t for t in model.teachers}
    assert (teachers['clean'].teacher_input, teachers['robust'].teacher_input) == ('clean', 'adv')
    assert {t.encoder.arch for t in teachers.values()} == {'ViT-L-14'}
    assert 'clean-ce' in teachers['clean'].encoder.pretrained
    assert 'pmg-aft' in teachers['robust'].encoder.pretrained
    assert dict(model.weighting) == dict(type='ReferenceCosineWeighting', coefficients=dict(robust=50.0, clean=5.0))
    assert dict(model.attack) == dict(type='PGD', eps=4, norm='Linf', steps=10, step_size=1, momentum=0.9,
                                      random_start=True)
    assert cfg.evaluation.preset == 'mmt-ard-release'


def test_fused_adamw_takes_the_release_adamws_steps():
    """The paper configs' fused AdamW against torch's per-tensor one (the release's), 20 steps of the same
    gradients with the config's settings: the same parameters to float rounding."""
    settings = {k: v for k, v in resolve_config(RELEASE).optim_wrapper.optimizer.items() if k != 'type'}
    assert settings.pop('fused') is True
    generator = torch.Generator().manual_seed(0)
    start = [torch.randn(shape, generator=generator) for shape in ((64, 32), (32,), (3, 3, 8))]
    grads = [[torch.randn(p.shape, generator=generator) for p in start] for _ in range(20)]
    results = []
    for fused in (True, False):
        params = [torch.nn.Parameter(p.clone()) for p in start]
        optimizer = torch.optim.AdamW(params, **settings, fused=fused, foreach=None if fused else False)
        for step in grads:
            for param, grad in zip(params, step):
                param.grad = grad.clone()
            optimizer.step()
        results.append(params)
    for fused, loop, before in zip(*results, start):
        assert not torch.equal(loop, before)  # the steps moved the parameters
        torch.testing.assert_close(fused, loop, rtol=1e-6, atol=1e-9)


def test_release_schedule_gives_the_release_learning_rate_at_every_step_but_the_first():
    cfg = resolve_config(RELEASE)
    lrs = lr_per_step(cfg)
    expected = [release_lr(step, 2e-5, 350, 5000) for step in range(5000)]
    # the one departure the schedule's comment states: warm-up starts on step 0
    assert lrs[0] == pytest.approx(2e-5 / 350) and expected[0] == 2e-5
    assert lrs[1:] == pytest.approx(expected[1:], rel=1e-9, abs=1e-15)
    assert max(lrs) == pytest.approx(2e-5) and lrs.index(max(lrs)) in (349, 350)


def test_config_show_prints_the_release_recipe():
    result = CliRunner().invoke(cli, ['config', 'show', str(RELEASE)])
    assert result.exit_code == 0, result.output
    for text in ('max_iters = 5000', 'batch_size=512', 'lr=2e-05', 'weight_decay=0.0001',
                 "train_templates = 'this_is_a_photo'", 'warmup_iters = 350',
                 "pretrained='checkpoints/vit-l-14_pmg-aft.pt'", "pretrained='checkpoints/vit-l-14_clean-ce.pt'",
                 'steps=10', 'step_size=1', 'momentum=0.9', 'eps=4'):
        assert text in result.output, text


def test_eps_2_variant_differs_only_in_its_eps():
    four, two = resolve_config(RELEASE).to_dict(), resolve_config(RELEASE_EPS2).to_dict()
    assert (two['model']['attack']['eps'], two['model']['val_attack']['eps']) == (2, 2)
    four['model']['attack']['eps'] = four['model']['val_attack']['eps'] = 2
    assert four == two


@pytest.mark.parametrize('path', RELEASE_FAMILY, ids=lambda p: p.name)
def test_students_baseline_and_ablations_share_the_release_recipe(path):
    cfg, release = resolve_config(path), resolve_config(RELEASE)
    for key in ('train_cfg', 'optim_wrapper', 'param_scheduler', 'auto_scale_lr', 'train_dataloader', 'evaluation'):
        assert cfg[key] == release[key], key
    eps = int(re.search(r'-eps(\d+)_', path.name).group(1))
    assert cfg.model.attack == {**release.model.attack, 'eps': eps}
    encoders = [cfg.model.teacher] if 'teacher' in cfg.model else [t.encoder for t in cfg.model.teachers]
    assert any('pmg-aft' in e.pretrained for e in encoders)


@pytest.mark.parametrize('path', RELEASE_FAMILY + [EARLIER, EARLIER.parent.parent / 'single_teacher_ard' / (
    'single-teacher-ard_vit-b-32_vit-l-14-tecoa_pgd10-eps4_10e-b128_imagenet-80tpl.py')], ids=lambda p: p.name)
def test_imagenet_configs_cache_the_clean_teacher(path):
    """Valid there: ImageNet without augmentation, so an index always names the same pixels."""
    cfg = resolve_config(path)
    assert cfg.model.cache_clean_teacher_outputs is True
    assert set(cfg.train_dataloader.dataset) <= {'type', 'root', 'split', 'image_size', 'templates'}


def test_release_family_covers_every_student_baseline_and_ablation():
    names = {p.name.split('_')[0] + '_' + p.name.split('_')[1] for p in RELEASE_FAMILY}
    assert {'mmtard_vit-b-32', 'mmtard_vit-b-32-lora', 'mmtard_rn50', 'mmtard_rn101', 'mmtard_timm-resnet50',
            'single-teacher-ard_vit-b-32', 'mmtard-fixed_vit-b-32', 'mmtard-mtard_vit-b-32',
            'mmtard-dynamic-confidence_vit-b-32'} <= names


def test_earlier_choices_are_a_named_variant():
    cfg, release = resolve_config(EARLIER), resolve_config(RELEASE)
    assert (cfg.train_cfg.type, cfg.train_cfg.max_epochs, cfg.train_dataloader.batch_size) == (
        'EpochBasedTrainLoop', 10, 128)
    assert len(get_templates(cfg.train_dataloader.dataset.templates)) == 80
    robust = next(t.encoder for t in cfg.model.teachers if t.name == 'robust')
    assert 'tecoa' in robust.pretrained
    assert cfg.model.attack == release.model.attack and cfg.model.weighting == release.model.weighting


def test_clean_teacher_recipe_follows_the_release_readme():
    cfg = resolve_config(CLEAN_TEACHER)
    assert (cfg.model.type, cfg.model.student.arch, cfg.model.student.pretrained) == ('CleanFinetune', 'ViT-L-14',
                                                                                       'openai')
    assert (cfg.train_cfg.max_iters, cfg.train_dataloader.batch_size) == (20000, 32)
    assert dict(cfg.optim_wrapper.optimizer) == dict(type='AdamW', lr=1e-5, weight_decay=1e-4, fused=True)
    assert get_templates(cfg.train_dataloader.dataset.templates) == ['This is a photo of a {}']
    lrs = lr_per_step(cfg)
    expected = [release_lr(step, 1e-5, 1400, 20000) for step in range(20000)]
    assert lrs[1:] == pytest.approx(expected[1:], rel=1e-9, abs=1e-15)


SCHEDULE = re.compile(r'^(?P<length>\d+)(?P<unit>it|e)(?:-b(?P<batch>\d+))?$')


@pytest.mark.parametrize('path', ALL_CONFIGS, ids=lambda p: str(p.relative_to(REPO)))
def test_schedule_part_of_the_name_says_what_it_is(path):
    """`..._5000it-b512_...` trains 5000 iterations at batch 512 per process; `10e` 10 epochs."""
    match = SCHEDULE.match(path.stem.split('_')[4])
    assert match, f'{path.name}: the schedule part must read <N>it or <N>e, optionally -b<batch>'
    cfg = resolve_config(path)
    if match['unit'] == 'it':
        assert (cfg.train_cfg.type, cfg.train_cfg.max_iters) == ('IterBasedTrainLoop', int(match['length']))
    else:
        assert (cfg.train_cfg.type, cfg.train_cfg.max_epochs) == ('EpochBasedTrainLoop', int(match['length']))
    if match['batch']:
        assert cfg.train_dataloader.batch_size == int(match['batch'])


def test_clean_x_recipe_differs_from_the_release_only_in_the_robust_teachers_input():
    clean_x = resolve_config(RELEASE.with_name(RELEASE.name.replace('mmtard_', 'mmtard-clean-x_'))).to_dict()
    release = resolve_config(RELEASE).to_dict()
    robust = clean_x['model']['teachers'][1]
    assert (robust['teacher_input'], robust['student_input']) == ('clean', 'adv')
    assert clean_x['model']['teachers'][0]['teacher_input'] == 'clean'
    for config in (clean_x, release):
        config['model']['teachers'][1].pop('student_input', None)
        config['model']['teachers'][1].pop('teacher_input')
        config.pop('filename', None)
    assert clean_x == release
