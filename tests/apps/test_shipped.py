"""Shipped pretraining weights: made by today's recipes, packed losslessly for the chain, used by the demo
unless --from-scratch, and never used once a recipe changes."""
import json
from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file

import mmtard.apis.train as train_api
import mmtard.apps.shipped as shipped
import mmtard.apis.evaluate as evaluate_api
from mmtard.apps.chain import BASE, CONFIG_DIR, UPSTREAM, Size, recipe, train_job, train_stage
from mmtard.apps.jobs import run_jobs
from mmtard.apps.scoring import benchmark, dataset_section, score_run
from mmtard.apps.shipped import (MANIFEST, ROWS_KEY, TOKEN_KEY, VOCAB_KEY, chain_texts, evaluation_key, ship,
                                 ship_evaluations)
from mmtard.checkpoint import read_checkpoint
from mmtard.config import load_config


def test_shipped_weights_are_made_by_the_installed_recipes():
    """A config change to a pretraining stage must come with re-shipped weights, or every first demo trains it."""
    manifest = json.loads((shipped.SHIPPED_DIR / MANIFEST).read_text())
    assert set(manifest) == {stage.name for stage in UPSTREAM}
    recipes = {}
    for stage in UPSTREAM:
        inputs = {name: SimpleNamespace(recipe=recipes[name]) for name in stage.inputs.values()}
        recipes[stage.name] = recipe(stage, 0, Size.named('full'), load_config(CONFIG_DIR / stage.config), inputs)
        assert manifest[stage.name]['recipe'] == recipes[stage.name], (
            f'the shipped {stage.name} was made by another recipe: run tools/ship_chain_weights.py')
        assert evaluation_key(benchmark(Size.named('full'), shipped.SHIPPED_DIR)) in manifest[stage.name]['evaluations'], (
            f'the shipped {stage.name} evaluation is of another protocol: run tools/ship_chain_weights.py '
            f'--evaluations-only')
        state = load_file(str(shipped.SHIPPED_DIR / manifest[stage.name]['file']))
        assert state[TOKEN_KEY].shape[0] == len(state[ROWS_KEY]) < int(state[VOCAB_KEY]) / 100


def log_to(lines):
    return lines.append


def smoke_section(root):
    return benchmark(Size.named('smoke'), root / '.cache' / 'shapes')


@pytest.fixture()
def smoke_ship(smoke_demo, tmp_path, monkeypatch):
    """The smoke demo's pretraining stages and their evaluations packed as if the package shipped them."""
    done = run_jobs([(stage, 0) for stage in UPSTREAM], train_job, (smoke_demo, Size.named('smoke'), print, False),
                    1, print)
    runs = {stage.name: done[(stage.name, 0)][0] for stage in UPSTREAM}
    assert {run.origin for run in runs.values()} == {'reused'}
    ship(list(runs.values()), 'smoke', tmp_path / 'shipped')
    section = smoke_section(smoke_demo)
    for run in runs.values():  # as tools/ship_chain_weights.py: one evaluation of every dataset
        score_run(run, section)
    ship_evaluations(list(runs.values()), section, tmp_path / 'shipped')
    monkeypatch.setattr(shipped, 'SHIPPED_DIR', tmp_path / 'shipped')
    return runs


def no_training(*args, **kwargs):
    raise AssertionError('a stage trained although its weights are shipped')


def test_chain_unpacks_shipped_stages_with_the_weights_it_trained(smoke_ship, tmp_path, monkeypatch):
    monkeypatch.setattr(train_api, 'train', no_training)
    lines = []
    done = run_jobs([(stage, 0) for stage in UPSTREAM], train_job,
                    (tmp_path / 'fresh', Size.named('smoke'), log_to(lines), True), 1, log_to(lines))
    for stage in UPSTREAM:
        run = done[(stage.name, 0)][0]
        assert run.origin == 'shipped' and run.recipe == smoke_ship[stage.name].recipe
        original = read_checkpoint(str(smoke_ship[stage.name].checkpoint))['state_dict']
        unpacked = read_checkpoint(str(run.checkpoint))['state_dict']
        assert set(unpacked) == set(original)
        rows = torch.unique(shipped.open_clip.get_tokenizer('mmtard-tiny-vit')(chain_texts()))
        for key, value in original.items():
            if key == TOKEN_KEY:
                assert torch.equal(unpacked[key][rows], value[rows])
                others = torch.ones(len(value), dtype=torch.bool)
                others[rows] = False
                assert not unpacked[key][others].any(), 'rows the chain never reads come back as zeros'
            else:
                assert torch.equal(unpacked[key], value), key
    assert sum('unpacking' in line for line in lines) == len(UPSTREAM)
    again = train_stage(BASE, 0, tmp_path / 'fresh', Size.named('smoke'), {}, log_to(lines), True)
    assert again.origin == 'shipped', 'a rerun still reports where the weights came from'


def no_evaluation(*args, **kwargs):
    raise AssertionError('a shipped stage was evaluated although its evaluation ships')


def test_shipped_evaluations_are_read_and_unpacked_teachers_still_evaluate(smoke_ship, smoke_demo, tmp_path,
                                                                          monkeypatch):
    """A shipped stage's evaluation is read, not recomputed, in any work dir; once those rows are
    gone the unpacked checkpoint itself evaluates, PMG-AFT's frozen original (left out of its
    checkpoint) rebuilt from the config, to the shipped rows."""
    fresh = tmp_path / 'fresh'
    done = run_jobs([(stage, 0) for stage in UPSTREAM], train_job, (fresh, Size.named('smoke'), print, True), 1, print)
    robust = done[('robust-teacher', 0)][0]
    assert read_checkpoint(str(robust.checkpoint))['meta']['frozen_teachers'].keys() == {'original'}
    section = smoke_section(fresh)
    assert evaluation_key(section) == evaluation_key(smoke_section(smoke_demo)), 'the work dir is not in the key'
    shipped_rows = shipped.shipped_evaluation('robust-teacher', section)
    real_evaluate = evaluate_api.evaluate
    monkeypatch.setattr(evaluate_api, 'evaluate', no_evaluation)
    for stage in UPSTREAM:  # the demo's jobs, one per dataset, read the rows shipped for every dataset
        run = done[(stage.name, 0)][0]
        parts = [record.as_dict() for entry in section['datasets']
                 for record in score_run(run, dataset_section(section, entry['name']), whole=section)]
        assert [(r['dataset'], r['robust_acc']) for r in parts] == [
            (r['dataset'], r['robust_acc']) for r in shipped.shipped_evaluation(stage.name, section)]
        assert score_run(run, section), stage.name
    monkeypatch.setattr(evaluate_api, 'evaluate', real_evaluate)
    one = dict(section, datasets=section['datasets'][:1], eps=[1])
    recomputed = [record.as_dict() for record in score_run(robust, one)]
    expected = [row for row in shipped_rows if row['dataset'] == one['datasets'][0]['name'] and row['eps'] == 1]
    assert [(r['clean_acc'], r['robust_acc']) for r in recomputed] == [(r['clean_acc'], r['robust_acc']) for r in expected]


def test_from_scratch_and_changed_recipes_train(smoke_ship, tmp_path, monkeypatch):
    trained = []

    def fake_train(config, work_dir, **kwargs):
        trained.append(config.name)
        raise KeyboardInterrupt  # stop before any real work: only the decision is under test

    monkeypatch.setattr(train_api, 'train', fake_train)
    with pytest.raises(KeyboardInterrupt):
        train_stage(BASE, 0, tmp_path / 'scratch', Size.named('smoke'), {}, print, use_shipped=False)
    assert trained == [BASE.config]
    with pytest.raises(KeyboardInterrupt):
        train_stage(BASE, 1, tmp_path / 'seed1', Size.named('smoke'), {}, print, use_shipped=True)
    assert len(trained) == 2, 'only chain seed 0 ships'
    lines = []
    with pytest.raises(KeyboardInterrupt):
        train_stage(BASE, 0, tmp_path / 'full', Size.named('full'), {}, log_to(lines), use_shipped=True)
    assert len(trained) == 3, 'weights of another size are not used'
    assert not any('another recipe' in line for line in lines), 'weights of another size are not a changed recipe'
    lines.clear()
    changed = replace(BASE, options={'optim_wrapper.optimizer.lr': 5e-4})
    with pytest.raises(KeyboardInterrupt):
        train_stage(changed, 0, tmp_path / 'changed', Size.named('smoke'), {}, log_to(lines), use_shipped=True)
    assert len(trained) == 4 and any('another recipe' in line for line in lines)
