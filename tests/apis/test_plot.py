"""`mmtard plot WORK_DIR`: reads every start's scalars.json (a resume overrides what it repeats) and writes a PNG."""
import json

from click.testing import CliRunner

from mmtard.apis.plot import PLOT_FILE, read_scalars
from mmtard.cli.main import cli


def write_lines(path, records):
    path.parent.mkdir(parents=True)
    path.write_text(''.join(json.dumps(r) + '\n' for r in records))


def make_run(work):
    write_lines(work / '20260101_000000' / 'vis_data' / 'scalars.json', [
        {'lr': 1e-4, 'loss': 3.0, 'kl_robust': 2.0, 'acc_clean': 0.1, 'time': 1.0, 'iter': 10, 'step': 10},
        {'lr': 2e-4, 'loss': 2.0, 'kl_robust': 1.5, 'acc_clean': 0.2, 'time': 1.0, 'iter': 20, 'step': 20},
        {'zero_shot/clean_acc': 0.3, 'zero_shot/robust_acc': 0.1, 'time': 0.5, 'step': 20},
    ])
    with open(work / '20260101_000000' / 'vis_data' / 'scalars.json', 'a') as f:
        f.write('{"lr": 3e-4, "lo')  # the line a killed run was writing
    write_lines(work / '20260101_010000' / 'vis_data' / 'scalars.json', [  # resumed from iteration 10
        {'lr': 2e-4, 'loss': 1.9, 'kl_robust': 1.4, 'acc_clean': 0.2, 'time': 1.0, 'iter': 20, 'step': 20},
        {'lr': 1e-4, 'loss': 1.0, 'kl_robust': 0.5, 'acc_clean': 0.4, 'time': 1.0, 'iter': 30, 'step': 30},
        {'zero_shot/clean_acc': 0.5, 'zero_shot/robust_acc': 0.2, 'time': 0.5, 'step': 30},
    ])


def test_scalars_of_all_starts_merge_with_the_later_start_winning(tmp_path):
    make_run(tmp_path)
    train, val = read_scalars(tmp_path)
    assert train['loss'] == {10: 3.0, 20: 1.9, 30: 1.0}
    assert train['lr'] == {10: 1e-4, 20: 2e-4, 30: 1e-4}
    assert 'time' not in train and 'iter' not in train
    assert val == {'zero_shot/clean_acc': {20: 0.3, 30: 0.5}, 'zero_shot/robust_acc': {20: 0.1, 30: 0.2}}


def test_by_epoch_validation_is_placed_at_the_epochs_last_iteration(tmp_path):
    write_lines(tmp_path / '20260101_000000' / 'vis_data' / 'scalars.json', [
        {'lr': 1.0, 'loss': 1.0, 'epoch': 1, 'iter': 5, 'step': 5},
        {'lr': 1.0, 'loss': 1.0, 'epoch': 1, 'iter': 8, 'step': 8},
        {'zero_shot/clean_acc': 0.4, 'step': 1},
    ])
    assert read_scalars(tmp_path)[1] == {'zero_shot/clean_acc': {8: 0.4}}


def test_plot_writes_a_png(tmp_path):
    make_run(tmp_path)
    result = CliRunner().invoke(cli, ['plot', str(tmp_path)])
    assert result.exit_code == 0, result.output
    png = (tmp_path / PLOT_FILE).read_bytes()
    assert png[:8] == b'\x89PNG\r\n\x1a\n' and len(png) > 10_000


def test_plot_of_a_folder_without_logs_is_explained(tmp_path):
    result = CliRunner().invoke(cli, ['plot', str(tmp_path)])
    assert result.exit_code == 2 and 'holds no logged training scalars' in result.output
    assert list(tmp_path.iterdir()) == []
