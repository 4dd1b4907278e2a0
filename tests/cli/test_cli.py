"""The click commands, through click's test runner."""
import json

import pytest
from click.testing import CliRunner

from mmtard.cli.main import cli

from shared_inputs import TINY



@pytest.fixture
def runner():
    return CliRunner()


def test_list_json_is_valid_and_lists_builtins(runner):
    result = runner.invoke(cli, ['list', '--format', 'json'])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    names = {(r['registry'], r['name']) for r in rows}
    for expected in [('models', 'MMTARD'), ('models', 'SingleTeacherARD'), ('weightings', 'ReferenceCosineWeighting'),
                     ('attacks', 'PGD'), ('attacks', 'AutoAttack'), ('teachers', 'OpenCLIPEncoder'),
                     ('students', 'TimmEncoder'), ('datasets', 'ShapesDataset')]:
        assert expected in names
    assert all(r['description'] for r in rows if r['distribution'] == 'mmtard'), 'every built-in has a docstring'


def test_list_one_registry_table(runner):
    result = runner.invoke(cli, ['list', 'weightings'])
    assert result.exit_code == 0
    assert 'DynamicConfidenceWeighting' in result.output and 'PGD' not in result.output


def test_list_unknown_registry_suggests(runner):
    result = runner.invoke(cli, ['list', 'weightngs'])
    assert result.exit_code == 2
    assert "Did you mean 'weightings'" in result.output
    assert 'Traceback' not in result.output


def test_config_show_resolves_bases_and_overrides(runner):
    result = runner.invoke(cli, ['config', 'show', str(TINY), '-o', 'model.attack.eps=2'])
    assert result.exit_code == 0, result.output
    assert "type='MMTARD'" in result.output and 'eps=2' in result.output
    assert '_base_' not in result.output


def test_config_show_missing_file_suggests_close_name(runner):
    result = runner.invoke(cli, ['config', 'show', str(TINY).replace('pgd3', 'pgd4')])
    assert result.exit_code == 2
    assert 'does not exist' in result.output and 'pgd3' in result.output


def test_bad_cfg_option_is_explained(runner):
    result = runner.invoke(cli, ['config', 'show', str(TINY), '-o', 'model.attack.eps'])
    assert result.exit_code == 2 and 'KEY=VALUE' in result.output


def test_misspelt_top_level_key_is_caught(runner, tmp_path):
    config = tmp_path / 'typo.py'
    config.write_text(f"_base_ = ['{TINY}']\ntrain_dataloder = dict(batch_size=2)\n")
    result = runner.invoke(cli, ['config', 'show', str(config)])
    assert result.exit_code == 2 and "Did you mean 'train_dataloader'" in result.output


def test_misspelt_component_option_is_caught_before_training(runner, tmp_path):
    result = runner.invoke(cli, ['train', str(TINY), '--work-dir', str(tmp_path / 'run'), '-o', 'model.atack.eps=2'])
    assert result.exit_code == 2, result.output
    assert "'model.atack'" in result.output and "Did you mean 'attack'" in result.output
    assert 'Traceback' not in result.output and not (tmp_path / 'run').exists()


def test_version(runner):
    result = runner.invoke(cli, ['--version'])
    assert result.exit_code == 0 and 'mmtard' in result.output
