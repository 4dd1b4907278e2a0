"""Every config parses, sits in the folder of its kind, and its name says what it holds:
``{algorithm}_{student}_{teachers}_{attack}_{schedule}_{data}`` is checked part by part against the
resolved config (the schedule part in tests/configs/test_release_configs.py), so a name cannot drift from
its content."""
import re
from pathlib import Path

import pytest

from mmtard.config import resolve_config
from mmtard.datasets.templates import get_templates

REPO = Path(__file__).resolve().parents[2]
CHAIN_CONFIGS = REPO / 'mmtard' / 'apps' / 'configs'  # the demo's and study's stages ship inside the package
CONFIGS = sorted(p for root in (REPO / 'configs', CHAIN_CONFIGS) for p in root.rglob('*.py') if '_base_' not in p.parts)
BASE_FILES = sorted(p for root in (REPO / 'configs', CHAIN_CONFIGS) for p in (root / '_base_').rglob('*.py'))

#: algorithm part -> (model type, weighting type, each teacher's input)
ALGORITHMS = {
    'mmtard': ('MMTARD', 'ReferenceCosineWeighting', {'clean': 'clean', 'robust': 'adv'}),
    'mmtard-clean-x': ('MMTARD', 'ReferenceCosineWeighting', {'clean': 'clean', 'robust': 'clean'}),
    'mmtard-dynamic-confidence': ('MMTARD', 'DynamicConfidenceWeighting', {'clean': 'clean', 'robust': 'adv'}),
    'mmtard-fixed': ('MMTARD', 'FixedWeighting', {'clean': 'clean', 'robust': 'adv'}),
    'mmtard-mtard': ('MMTARD', 'MTARDWeighting', {'clean': 'clean', 'robust': 'adv'}),
    'single-teacher-ard': ('SingleTeacherARD', None, None),
    'clean-finetune': ('CleanFinetune', None, None),
    'tecoa': ('TeCoA', None, None),
    'fare': ('FARE', None, None),
    'pmg-aft': ('PMGAFT', None, None),
    'clip-pretrain': ('ContrastivePretrain', None, None),
}
#: Each folder and the algorithms it holds (docs/configs.md's table).
FOLDERS = {
    'configs/mmtard': {'mmtard', 'mmtard-clean-x'},
    'configs/single_teacher_ard': {'single-teacher-ard'},
    'configs/ablations': {'mmtard-dynamic-confidence', 'mmtard-fixed', 'mmtard-mtard'},
    'configs/teachers': {'clean-finetune', 'tecoa', 'fare', 'pmg-aft'},
    'mmtard/apps/configs': {'clip-pretrain', 'clean-finetune', 'pmg-aft', 'single-teacher-ard', 'mmtard',
                            'mmtard-clean-x', 'mmtard-dynamic-confidence'},
}
#: student part -> (encoder type, architecture)
STUDENTS = {
    'tiny-vit': ('OpenCLIPEncoder', 'mmtard-tiny-vit'), 'small-vit': ('OpenCLIPEncoder', 'mmtard-small-vit'),
    'vit-b-32': ('OpenCLIPEncoder', 'ViT-B-32'), 'vit-b-32-lora': ('OpenCLIPEncoder', 'ViT-B-32'),
    'vit-l-14': ('OpenCLIPEncoder', 'ViT-L-14'), 'rn50': ('OpenCLIPEncoder', 'RN50'),
    'rn101': ('OpenCLIPEncoder', 'RN101'), 'timm-resnet50': ('TimmEncoder', 'resnet50'),
}
#: The teachers part opens with their size ...
TEACHER_ARCHS = {'tiny': 'mmtard-tiny-vit', 'small': 'mmtard-small-vit', 'vit-l-14': 'ViT-L-14'}
#: ... then names the teachers: kinds -> {teacher name: what its weight file's name says (None: not named)}
TEACHER_KINDS = {
    'clean-robust': {'clean': None, 'robust': None}, 'robust': {'robust': None},  # random tiny teachers
    'clean-pmg-aft': {'clean': None, 'robust': None},  # the chain's teacher stages
    'pmg-aft': {'robust': 'pmg-aft'}, 'tecoa': {'robust': 'tecoa'},
    'ce-pmg-aft': {'clean': 'clean-ce', 'robust': 'pmg-aft'}, 'ce-tecoa': {'clean': 'clean-ce', 'robust': 'tecoa'},
}
#: Recipes that keep a frozen copy of the student as their reference instead of teachers.
GUIDED_BY_ORIGINAL = {'FARE', 'PMGAFT'}
ATTACK = re.compile(r'^pgd(?P<steps>\d+)-eps(?P<eps>\d+)$')


def config_id(path: Path) -> str:
    return str(path.relative_to(REPO))


def name_parts(path: Path) -> dict:
    parts = path.stem.split('_')
    assert len(parts) == 6, (f'{path.name}: expected '
                             f'{{algorithm}}_{{student}}_{{teachers}}_{{attack}}_{{schedule}}_{{data}}')
    return dict(zip(('algorithm', 'student', 'teachers', 'attack', 'schedule', 'data'), parts))


def teachers_of(model) -> dict:
    """{teacher name: encoder config}; single-teacher ARD's one teacher is the robust one."""
    if 'teachers' in model:
        return {t.name: t.encoder for t in model.teachers}
    return {'robust': model.teacher} if 'teacher' in model else {}


def test_every_folder_of_configs_is_known():
    assert {str(p.parent.relative_to(REPO)) for p in CONFIGS} == set(FOLDERS)



def check_algorithm(name: str, model) -> None:
    model_type, weighting, inputs = ALGORITHMS[name]
    assert model.type == model_type
    assert (model.weighting.type if 'weighting' in model else None) == weighting
    if inputs:
        assert {t.name: t.teacher_input for t in model.teachers} == inputs


def check_student(name: str, student) -> None:
    assert (student.type, student.arch) == STUDENTS[name]
    assert ('lora' in student) == name.endswith('-lora')


def check_teachers(name: str, model, weights_named: bool) -> None:
    """``weights_named``: the weight files are named for their recipe (the chain fills in its own stages')."""
    teachers = teachers_of(model)
    if name == 'none':
        assert not teachers and model.type not in GUIDED_BY_ORIGINAL
        return
    if name.startswith('frozen-'):
        assert not teachers and model.type in GUIDED_BY_ORIGINAL
        return
    size = next(s for s in TEACHER_ARCHS if name.startswith(s + '-'))
    kinds = TEACHER_KINDS[name[len(size) + 1:]]
    assert set(teachers) == set(kinds)
    for teacher, encoder in teachers.items():
        assert encoder.arch == TEACHER_ARCHS[size], teacher
        if kinds[teacher] and weights_named:
            assert kinds[teacher] in encoder.pretrained, f'the {teacher} teacher loads {encoder.pretrained}'


def check_attack(name: str, model) -> None:
    if name == 'no-attack':
        assert 'attack' not in model
        return
    match = ATTACK.match(name)
    assert match, f'{name}: the attack part reads pgd<steps>-eps<eps> or no-attack'
    assert (model.attack.type, model.attack.steps, model.attack.eps) == ('PGD', int(match['steps']), int(match['eps']))


def check_data(name: str, data) -> None:
    if name == 'shapes':  # the held-out combinations give the zero-shot scores: never trained on
        assert (data.type, data.split, data.classes) == ('ShapesDataset', 'train', 'seen')
    elif name == 'shapes-mnist':
        shapes, digits = data.datasets
        assert (data.type, shapes.type, shapes.classes, digits.type, digits.dataset.type) == (
            'ConcatCaptions', 'ShapesDataset', 'seen', 'ClassCaptions', 'MNISTDigits')
    else:
        assert (data.type, data.split) == ('ImageFolderDataset', 'train')
        templates = get_templates(data.templates)
        if name == 'imagenet':  # the release trains on one prompt
            assert templates == ['This is a photo of a {}']
        else:
            assert name == 'imagenet-80tpl' and len(templates) == 80


@pytest.mark.parametrize('path', CONFIGS, ids=config_id)
def test_config_parses_and_its_name_says_what_it_holds(path):
    cfg = resolve_config(path)  # also checks every component's options against its constructor
    name = name_parts(path)
    assert cfg.default_scope == 'mmtard'
    if not path.is_relative_to(CHAIN_CONFIGS):  # the chain's stages are scored by the demo and the study
        assert cfg.evaluation.datasets, 'every config names the benchmark `mmtard eval` runs'
    assert name['algorithm'] in FOLDERS[str(path.parent.relative_to(REPO))], 'a config sits in its kind\'s folder'
    check_algorithm(name['algorithm'], cfg.model)
    check_student(name['student'], cfg.model.student)
    check_teachers(name['teachers'], cfg.model, weights_named=not path.is_relative_to(CHAIN_CONFIGS))
    check_attack(name['attack'], cfg.model)
    check_data(name['data'], cfg.train_dataloader.dataset)


@pytest.mark.parametrize('path', BASE_FILES, ids=config_id)
def test_base_files_use_underscores_only(path):
    assert '-' not in path.stem
