"""The benchmark end to end on the tiny model: text side, schema, resume, no silent overwrite."""
import csv
import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from rich.console import Console

from mmtard.apis.evaluate import evaluate
from mmtard.attacks import AutoAttack
from mmtard.cli.eval import eval_command
from mmtard.cli.eval_display import results_table
from mmtard.datasets.shapes import CLASS_SELECTIONS, TEMPLATES
from mmtard.errors import CheckpointError, ConfigError, RunDirectoryExistsError
from mmtard.evaluation.results import BenchmarkResult, field_names, read_results
from mmtard.models.encoders import OpenCLIPEncoder

from eval_helpers import COLOURS, Recorded, image_folder, spy_class_embeddings


class Killed(Exception):
    """Stands for the evaluation process being killed."""


def count_attacks(monkeypatch):
    calls = []
    original = AutoAttack.evaluate

    def counting(self, classifier, images, labels):
        calls.append(self.seed)
        return original(self, classifier, images, labels)

    monkeypatch.setattr(AutoAttack, 'evaluate', counting)
    return calls


def test_each_dataset_uses_its_own_class_names_and_templates(make_config, shapes, tmp_path, quiet,
                                                              monkeypatch):
    calls = spy_class_embeddings(monkeypatch)
    cfg = make_config(eps=[], datasets=[
        dict(name='held-out', dataset=shapes(16)),
        dict(name='seen', dataset=shapes(16, classes='seen')),
        dict(name='renamed', dataset=shapes(16), classnames=[f'class {i}' for i in range(13)],
             templates=['an image of a {}.'])])
    records = evaluate(cfg, out_dir=tmp_path / 'out', progress=quiet)
    assert calls == [(list(CLASS_SELECTIONS['held_out']), list(TEMPLATES)),
                     (list(CLASS_SELECTIONS['seen']), list(TEMPLATES)),
                     ([f'class {i}' for i in range(13)], ['an image of a {}.'])]
    assert [(r.dataset, r.robust_acc, r.n_robust) for r in records] == [('held-out', None, 0), ('seen', None, 0),
                                                                       ('renamed', None, 0)]
    assert any((tmp_path / 'out' / 'text_cache').iterdir()), 'class embeddings are cached on disk'


def test_result_schema_in_json_and_csv(make_config, shapes, checkpoint, tmp_path, quiet):
    cfg = make_config(eps=[1, 2], datasets=[dict(name='a', dataset=shapes(32)),
                                            dict(name='b', dataset=shapes(32, 'val'))])
    records = evaluate(cfg, checkpoint=checkpoint, out_dir=tmp_path / 'out', progress=quiet)
    out = tmp_path / 'out'
    assert [(r.dataset, r.eps) for r in records] == [('a', 1.0), ('a', 2.0), ('b', 1.0), ('b', 2.0)]
    rows = json.loads((out / 'results.json').read_text())
    assert [list(row) for row in rows] == [field_names()] * 4
    types = {f.name: f.type for f in dataclasses.fields(BenchmarkResult)}
    row = rows[0]
    for name in ('dataset', 'split', 'task', 'attack', 'model_checksum', 'mmtard_version', 'sampling', 'model',
                 'pretrained', 'norm', 'eps_255', 'preset'):
        assert isinstance(row[name], str), (name, types[name])
    for name in ('n', 'n_robust', 'seed', 'attack_iterations', 'attack_restarts', 'attack_targets'):
        assert isinstance(row[name], int)
    for name in ('eps', 'clean_acc', 'robust_acc', 'attacked_clean_acc', 'time_s'):
        assert isinstance(row[name], float)
    assert (row['model'], row['pretrained'], row['norm'], row['eps_255'], row['preset']) == \
        ('mmtard-tiny-vit', 'iter_1.pth', 'Linf', '1/255', 'quick')
    assert (row['attack_iterations'], row['attack_restarts'], row['attack_targets']) == (3, 5, 9)
    assert isinstance(row['per_attack'], dict) and list(row['per_attack']) == ['apgd-ce', 'apgd-t']
    assert isinstance(row['metrics'], dict) and isinstance(row['sample_indices'], list)
    # 3 iterations: the attack is named for what it is, reduced, never 'AutoAttack'
    assert (row['split'], row['task'], row['n'], row['n_robust'], row['attack'], row['attack_reduced']) == \
        ('test', 'classification', 32, 16, 'APGD-CE (3 it, 5 restarts) + APGD-T (9 targets, 3 it) [reduced]', True)
    assert row['sampling'] == 'class-balanced-random'  # the quick preset's, on a dataset that exposes its labels
    assert len(row['sample_indices']) == 16 and all(isinstance(i, int) for i in row['sample_indices'])
    assert row['robust_acc'] == row['per_attack']['apgd-t'] <= row['per_attack']['apgd-ce'] <= \
        row['attacked_clean_acc']  # robust accuracy falls from the attacked samples' clean one
    assert read_results(out) == records

    with open(out / 'results.csv', newline='') as f:
        csv_rows = list(csv.DictReader(f))
    flat = [name for name in field_names()
            if name not in ('per_attack', 'metrics', 'sample_indices', 'clean_correct', 'robust_correct')]
    assert list(csv_rows[0]) == flat + ['per_attack.apgd-ce', 'per_attack.apgd-t'] and len(csv_rows) == 4
    assert not any(cell.startswith(('{', '[')) for r in csv_rows for cell in r.values())  # one value per cell
    # 16 attacked samples: resolution 1/16, so 2 decimals; 32 clean samples: 2 decimals
    assert float(csv_rows[0]['robust_acc']) == round(row['robust_acc'], 2) and int(csv_rows[0]['n']) == 32
    assert float(csv_rows[0]['per_attack.apgd-ce']) == round(row['per_attack']['apgd-ce'], 2)
    assert csv_rows[0]['eps_255'] == '1/255' and csv_rows[0]['attack_targets'] == '9'
    markdown = (out / 'results.md').read_text()
    assert markdown.count('| average |') == 2 and '| a | classification | 1 |' in markdown
    assert markdown.count('[reduced]') == 6  # every row, the averages too
    terminal = Console(width=400, record=True, file=io.StringIO())
    terminal.print(results_table(records))
    assert terminal.export_text().count(row['attack']) == 6  # '[reduced]' is text there, not rich markup
    first = next(line for line in markdown.splitlines() if line.startswith('| a | classification | 1 |'))
    assert f"| {100 * row['attacked_clean_acc']:.0f} | {100 * row['robust_acc']:.0f} |" in first  # 16 samples


def test_killed_evaluation_resumes_to_the_same_numbers_without_reattacking(make_config, checkpoint, tmp_path,
                                                                          quiet, monkeypatch):
    cfg = make_config(eps=[1, 2], n_robust=24)  # 4 clean batches, 3 robust batches per eps
    attacks = count_attacks(monkeypatch)
    reference = evaluate(cfg.copy(), checkpoint=checkpoint, out_dir=tmp_path / 'uninterrupted', progress=quiet)
    assert len(attacks) == 6
    attacked_uninterrupted = sorted(attacks)
    attacks.clear()

    done = []

    def kill_after_six(event):
        done.append(event)
        if len(done) == 6:  # 4 clean batches, then 2 attacked ones
            raise Killed

    with pytest.raises(Killed):
        evaluate(cfg.copy(), checkpoint=checkpoint, out_dir=tmp_path / 'killed', progress=Recorded(kill_after_six))
    assert len(attacks) == 2 and not (tmp_path / 'killed' / 'results.json').exists()
    recorded = Recorded()
    resumed = evaluate(cfg.copy(), checkpoint=checkpoint, out_dir=tmp_path / 'killed', progress=recorded)
    events = recorded.batches
    assert len(attacks) == 6, 'only the 4 unfinished batches are attacked again'
    assert sorted(attacks) == attacked_uninterrupted, 'each batch is attacked with the seed of an uninterrupted run'
    assert [e.reused for e in events] == [True] * 6 + [False] * 4

    def numbers(records):
        return [dataclasses.replace(r, time_s=0.0) for r in records]

    assert numbers(resumed) == numbers(reference)
    assert 0 < reference[0].robust_acc < reference[0].clean_acc, 'the tiny model gives informative numbers'


def test_finished_results_are_not_overwritten(make_config, tmp_path, quiet):
    cfg = make_config(eps=[], n_clean=8)
    evaluate(cfg.copy(), out_dir=tmp_path / 'out', progress=quiet)
    before = (tmp_path / 'out' / 'results.json').read_text()
    with pytest.raises(RunDirectoryExistsError, match='--overwrite'):
        evaluate(cfg.copy(), out_dir=tmp_path / 'out', progress=quiet)
    assert (tmp_path / 'out' / 'results.json').read_text() == before

    def kill(event):
        raise Killed

    with pytest.raises(Killed):  # an --overwrite run that dies keeps the results it was to replace
        evaluate(cfg.copy(), out_dir=tmp_path / 'out', progress=Recorded(kill), overwrite=True)
    assert (tmp_path / 'out' / 'replaced' / 'results.json').read_text() == before
    assert evaluate(cfg.copy(), out_dir=tmp_path / 'out', progress=quiet, overwrite=True)
    second = (tmp_path / 'out' / 'results.json').read_text()
    assert evaluate(cfg.copy(), out_dir=tmp_path / 'out', progress=quiet, overwrite=True)
    # each overwrite keeps what it replaced, what was evaluated included: no overwrite loses another's
    assert (tmp_path / 'out' / 'replaced' / 'results.json').read_text() == before
    assert sorted(p.name for p in (tmp_path / 'out' / 'replaced').iterdir()) == [
        '2', '3', 'evaluation.json', 'partial.jsonl', 'results.csv', 'results.json', 'results.md']
    assert (tmp_path / 'out' / 'replaced' / '3' / 'results.json').read_text() == second
    assert (tmp_path / 'out' / 'replaced' / '3' / 'evaluation.json').is_file()


def test_a_bad_device_is_refused_before_anything_is_built_or_written(make_config, tmp_path, quiet):
    for device, match in (('gpu', 'not a torch device'), ('cuda', 'no usable CUDA GPU')):
        if device == 'cuda' and torch.cuda.is_available():
            continue
        with pytest.raises(ConfigError, match=match):
            evaluate(make_config(eps=[], n_clean=8), out_dir=tmp_path / 'out', progress=quiet, device=device)
    assert not (tmp_path / 'out').exists()


def test_partial_results_of_another_checkpoint_are_refused(make_config, checkpoint, tmp_path, quiet):
    cfg = make_config(eps=[])

    def kill(event):
        raise Killed

    with pytest.raises(Killed):
        evaluate(cfg.copy(), checkpoint=checkpoint, out_dir=tmp_path / 'out', progress=Recorded(kill))
    with pytest.raises(RunDirectoryExistsError, match='checkpoint changed.*--overwrite.*--out'):
        evaluate(cfg.copy(), out_dir=tmp_path / 'out', progress=quiet)  # random weights this time


def test_default_out_dir_is_under_the_work_dir_or_beside_the_checkpoint(make_config, checkpoint, quiet):
    cfg = make_config(eps=[], n_clean=8)
    evaluate(cfg.copy(), checkpoint=checkpoint, progress=quiet)
    assert (Path(cfg.work_dir) / 'eval' / 'iter_1_student_quick' / 'results.json').is_file()
    cfg.pop('work_dir')
    evaluate(cfg.copy(), checkpoint=checkpoint, progress=quiet)
    assert (Path(checkpoint).parent / 'eval' / 'iter_1_student_quick' / 'results.json').is_file()


def test_model_key_and_checkpoint_errors(make_config, tmp_path, quiet):
    cfg = make_config(eps=[])
    with pytest.raises(ConfigError, match="'student'"):
        evaluate(cfg.copy(), model_key='studnet', out_dir=tmp_path / 'a', progress=quiet)
    with pytest.raises(CheckpointError, match='no such file'):
        evaluate(cfg.copy(), checkpoint=tmp_path / 'missing.pth', out_dir=tmp_path / 'b', progress=quiet)
    (tmp_path / 'broken.pth').write_bytes(b'not a checkpoint')
    with pytest.raises(CheckpointError, match='could not be loaded'):
        evaluate(cfg.copy(), checkpoint=tmp_path / 'broken.pth', out_dir=tmp_path / 'c', progress=quiet)


def test_a_teacher_is_evaluated_through_its_frozen_wrapper():
    from torch import nn

    from mmtard.apis.evaluate import select_encoder
    from mmtard.models.teacher import FrozenTeacher

    model = nn.Module()
    model.student = OpenCLIPEncoder('mmtard-tiny-vit')
    model.teachers = nn.ModuleDict({'robust': FrozenTeacher(OpenCLIPEncoder('mmtard-tiny-vit'))})
    assert select_encoder(model, 'teachers.robust') is model.teachers['robust'].encoder  # forward with gradients
    with pytest.raises(ConfigError, match="'teachers.robust'"):
        select_encoder(model, 'teachers.robst')


def test_evaluating_random_weights_without_a_checkpoint_warns(make_config, checkpoint, tmp_path):
    for given, out in ((None, 'random'), (checkpoint, 'trained')):
        recorded = Recorded()
        evaluate(make_config(eps=[], n_clean=8), checkpoint=given, out_dir=tmp_path / out, progress=recorded)
        warned = any('randomly initialised image tower' in message for message in recorded.warnings)
        assert warned == (given is None)


def test_attacked_samples_clean_accuracy_is_recorded(make_config, checkpoint, tmp_path, quiet):
    both, = evaluate(make_config(n_clean=16, n_robust=16), checkpoint=checkpoint, out_dir=tmp_path / 'a',
                     progress=quiet)
    assert both.attacked_clean_acc == both.clean_acc  # the same 16 samples
    subset, = evaluate(make_config(n_clean=32, n_robust=16), checkpoint=checkpoint, out_dir=tmp_path / 'b',
                       progress=quiet)
    assert subset.attacked_clean_acc == both.clean_acc  # nested subsets: the same 16 again
    assert subset.robust_acc <= subset.attacked_clean_acc


def test_release_preset_samples_a_seeded_shuffle_and_records_it(make_config, shapes, tmp_path, quiet):
    """Under 'mmt-ard-release' the attacked samples are the first n of a seeded shuffle (what
    CLIP_benchmark's shuffled loader yields), the clean ones the whole split; each row says so."""
    cfg = make_config(preset='mmt-ard-release', eps=[2], n_clean=None, n_robust=5,
                      datasets=[dict(name='zero-shot', dataset=shapes(24))])
    record, = evaluate(cfg, out_dir=tmp_path / 'out', progress=quiet)
    assert (record.n, record.n_robust, record.sampling) == (24, 5, 'random')
    assert record.sample_indices == sorted(int(i) for i in np.random.default_rng(0).permutation(24)[:5])
    plan = json.loads((tmp_path / 'out' / 'evaluation.json').read_text())['spec']
    assert (plan['preset'], plan['sampling']) == ('mmt-ard-release', 'random')


def test_fewer_samples_than_asked_are_said_and_the_rows_record_what_ran(make_config, shapes, tmp_path):
    """A dataset of 12 with 32 clean / 16 attacked asked: a warning before any work, rows of 12 and 12."""
    recorded = Recorded()
    config = make_config(datasets=[dict(name='small', dataset=shapes(12))], n_clean=32, n_robust=16)
    records = evaluate(config, out_dir=tmp_path / 'out', progress=recorded)
    assert any('small: 12 samples, fewer than the 32 clean and 16 attacked asked for' in w for w in recorded.warnings)
    assert (records[0].n, records[0].n_robust) == (12, 12)


def test_eps_0_gives_the_clean_row_and_a_4_class_row_names_the_3_targets_that_ran(tmp_path, checkpoint):
    """No perturbation at eps 0 can change a prediction: its row is the clean row, with no attack; on 4
    classes APGD-T aims at 3, and the label says so, as the row's attack_targets does."""
    folder = image_folder(tmp_path / 'four', colours={**COLOURS, 'yellow': (230, 220, 30)})
    result = CliRunner().invoke(eval_command, [str(a) for a in (
        '--model', 'mmtard-tiny-vit', '--pretrained', checkpoint, '--dataset', folder, '--eps', 0, 2,
        '--n-clean', 8, '--n-robust', 4, '--n-iter', 1, '--out', tmp_path / 'out')])
    assert result.exit_code == 0, result.output
    clean, attacked = read_results(tmp_path / 'out')
    assert (clean.eps, clean.attack, clean.robust_acc, clean.n_robust, clean.attack_targets, clean.eps_255) == (
        0.0, '', None, 0, None, '')
    assert clean.clean_acc == attacked.clean_acc and clean.n == attacked.n == 8
    assert attacked.attack == 'APGD-CE (1 it, 5 restarts) + APGD-T (3 targets, 1 it) [reduced]'
    assert (attacked.attack_targets, attacked.n_robust, attacked.eps) == (3, 4, 2.0)
