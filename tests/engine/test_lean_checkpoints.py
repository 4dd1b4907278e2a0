"""Training checkpoints hold the student and training state, and only the identity of each frozen teacher."""
import pytest
import torch
from click.testing import CliRunner

from mmtard.apis.evaluate import load_model_checkpoint
from mmtard.checkpoint import read_checkpoint
from mmtard.cli.main import cli
from mmtard.config import resolve_config
from mmtard.engine.lean_checkpoint import TEACHERS_META_KEY, load_training_state
from mmtard.errors import CheckpointError
from mmtard.models.encoders import OpenCLIPEncoder
from mmtard.registry import MODELS

from shared_inputs import FAST, TINY


@pytest.fixture(scope='module')
def teacher_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp('teachers')
    paths = {}
    for seed, name in enumerate(('clean', 'robust')):
        torch.manual_seed(10 + seed)
        paths[name] = folder / f'{name}.pt'
        torch.save(OpenCLIPEncoder('mmtard-tiny-vit').model.state_dict(), paths[name])
    return paths


def teacher_options(paths):
    return ['-o', f'model.teachers.0.encoder.pretrained={paths["clean"]}',
            '-o', f'model.teachers.1.encoder.pretrained={paths["robust"]}']


@pytest.fixture(scope='module')
def lean_run(tmp_path_factory, teacher_files):
    work = tmp_path_factory.mktemp('lean') / 'run'
    result = CliRunner().invoke(cli, ['train', str(TINY), '--work-dir', str(work), *FAST,
                                      *teacher_options(teacher_files)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return work


def build_tiny_model(teacher_files):
    cfg = resolve_config(TINY, {'model.teachers.0.encoder.pretrained': str(teacher_files['clean']),
                                'model.teachers.1.encoder.pretrained': str(teacher_files['robust'])})
    return MODELS.build(cfg.model)


def test_checkpoint_holds_no_teacher_tensor_but_each_teachers_identity(lean_run, teacher_files):
    checkpoint = read_checkpoint(str(lean_run / 'iter_4.pth'))
    keys = list(checkpoint['state_dict'])
    assert keys and all(key.startswith('student.') for key in keys)
    model = build_tiny_model(teacher_files)
    assert len(keys) == len(model.student.state_dict())
    recorded = checkpoint['meta'][TEACHERS_META_KEY]
    assert set(recorded) == {'teachers.clean', 'teachers.robust'}
    for name in ('clean', 'robust'):
        identity = recorded[f'teachers.{name}']
        assert identity['config']['pretrained'] == str(teacher_files[name])
        assert identity['weights_sha256'] == model.teachers[name].encoder.weights_checksum()


def test_evaluation_rebuilds_the_teachers_from_the_config(lean_run, teacher_files):
    model = build_tiny_model(teacher_files)
    load_model_checkpoint(model, lean_run / 'iter_4.pth')
    saved = read_checkpoint(str(lean_run / 'iter_4.pth'))['state_dict']
    assert all(torch.equal(model.state_dict()[key], value) for key, value in saved.items())


def test_resume_with_a_changed_teacher_file_is_refused(lean_run, teacher_files, tmp_path):
    changed = {**teacher_files, 'robust': tmp_path / 'robust.pt'}
    state = torch.load(teacher_files['robust'])
    state['visual.proj'] = state['visual.proj'] + 1e-3
    torch.save(state, changed['robust'])
    resumed = tmp_path / 'resumed'
    result = CliRunner().invoke(cli, ['train', str(TINY), '--work-dir', str(resumed), '--resume',
                                      str(lean_run / 'iter_2.pth'), *FAST, *teacher_options(changed)])
    assert result.exit_code == 2, result.output
    assert "frozen teacher 'teachers.robust' is not the one" in result.output
    assert str(changed['robust']) in result.output and 'Traceback' not in result.output
    assert not list(resumed.glob('*.pth'))
    with pytest.raises(CheckpointError, match="teachers.robust' is not the one"):
        load_model_checkpoint(build_tiny_model(changed), lean_run / 'iter_4.pth', model_key='teachers.robust')
    load_model_checkpoint(build_tiny_model(changed), lean_run / 'iter_4.pth')  # the student needs no teacher


def test_checkpoint_of_another_teacher_set_is_refused(lean_run, teacher_files):
    model = build_tiny_model(teacher_files)
    checkpoint = read_checkpoint(str(lean_run / 'iter_4.pth'))
    del checkpoint['meta'][TEACHERS_META_KEY]['teachers.robust']
    with pytest.raises(CheckpointError, match=r"frozen teachers \['teachers.clean'\].*builds"):
        load_training_state(model, checkpoint, 'ckpt')


def test_checkpoints_that_still_hold_teachers_load_exactly(teacher_files):
    """Files written before checkpoints were lean carry teacher weights and no identities."""
    source = build_tiny_model(teacher_files)
    target = build_tiny_model(teacher_files)
    with torch.no_grad():
        for param in source.parameters():
            param.add_(0.5)
    load_training_state(target, {'state_dict': source.state_dict(), 'meta': {}}, 'old checkpoint')
    assert all(torch.equal(target.state_dict()[k], v) for k, v in source.state_dict().items())
    partial = {k: v for k, v in source.state_dict().items() if not k.startswith('teachers.clean.')}
    with pytest.raises(CheckpointError, match='missing: teachers.clean'):
        load_training_state(target, {'state_dict': partial, 'meta': {}}, 'old checkpoint')


def test_a_random_teacher_that_differs_is_explained_as_such():
    model = MODELS.build(resolve_config(TINY).model)  # teachers with random weights, not built by the run
    recorded = {name: {'config': {'type': 'OpenCLIPEncoder', 'arch': 'mmtard-tiny-vit', 'pretrained': None},
                       'weights_sha256': '0' * 64} for name in ('teachers.clean', 'teachers.robust')}
    student = {k: v for k, v in model.state_dict().items() if k.startswith('student.')}
    with pytest.raises(CheckpointError, match='names no weight file, and random weights match only when'):
        load_training_state(model, {'state_dict': student, 'meta': {TEACHERS_META_KEY: recorded}}, 'ckpt')


def test_a_changed_student_architecture_is_named_before_any_teacher_is_blamed(lean_run, teacher_files, tmp_path):
    """Another student draws other random numbers, so random-weight teachers built after it differ
    too: the teachers' checksum must not be blamed for what the student's architecture changed."""
    other = {**teacher_files, 'robust': tmp_path / 'robust.pt'}
    state = torch.load(teacher_files['robust'])
    torch.save({k: v + 1e-3 for k, v in state.items()}, other['robust'])  # a teacher the check would refuse
    resumed = tmp_path / 'resumed'
    result = CliRunner().invoke(cli, ['train', str(TINY), '--work-dir', str(resumed), '--resume',
                                      str(lean_run / 'iter_2.pth'), *FAST, *teacher_options(other),
                                      '-o', 'model.student.arch=mmtard-tiny-rn'])
    text = ' '.join(result.output.split())
    assert result.exit_code == 2, text
    assert 'does not fit the student architecture this config builds' in text
    assert "trained the student {'type': 'OpenCLIPEncoder', 'arch': 'mmtard-tiny-vit'}" in text
    assert 'student.' in text and 'frozen teacher' not in text and 'Traceback' not in text
    assert not list(resumed.glob('*.pth'))


def test_resuming_after_a_teacher_file_was_deleted_names_the_teacher_and_how_to_go_on(lean_run, teacher_files,
                                                                                      tmp_path):
    gone = {**teacher_files, 'robust': tmp_path / 'moved' / 'robust.pt'}
    resumed = tmp_path / 'resumed'
    result = CliRunner().invoke(cli, ['train', str(TINY), '--work-dir', str(resumed), '--resume',
                                      str(lean_run / 'iter_2.pth'), *FAST, *teacher_options(gone)])
    text = ' '.join(result.output.split())
    assert result.exit_code == 2, text
    assert f"The teacher 'robust' (model.teachers.1.encoder, pretrained='{gone['robust']}')" in text
    assert 'does not exist' in text
    assert 'Restore the file, or point -o model.teachers.1.encoder.pretrained=<file>' in text
    assert 'Traceback' not in result.output and not list(resumed.glob('*.pth'))
