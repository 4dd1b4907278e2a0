"""Every `mmtard` command shown in README.md and docs/ names a real command with real options; the README's
quick start runs as printed (at a smaller training budget), and its docs index points at existing pages."""
import json
import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from mmtard.cli.main import cli

from shared_inputs import TINY

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / 'README.md', *sorted((REPO / 'docs').glob('*.md'))]
BLOCK = re.compile(r'```bash\n(.*?)```', re.S)


def shown_commands(page: Path):
    """Each `mmtard ...` command of the page's bash blocks, continuation lines joined, comment dropped."""
    for block in BLOCK.findall(page.read_text()):
        for line in block.replace('\\\n', ' ').splitlines():
            line = line.split('  #')[0].strip()
            for part in line.split('&&'):
                words = part.split()
                if words[:1] == ['mmtard'] or words[:1] == ['.venv/bin/mmtard']:
                    yield part.strip()


def resolve(words):
    """The click command a command line reaches, and the words left for it."""
    command, rest = cli, words[1:]
    while isinstance(command, click.Group) and rest and rest[0] in command.commands:
        command, rest = command.commands[rest[0]], rest[1:]
    return command, rest


ALL = [(page.relative_to(REPO), line) for page in PAGES for line in shown_commands(page)]


def leaf_commands(group: click.Group) -> set:
    """Every command a user can run: the group's commands and its subgroups' commands."""
    return {leaf for command in group.commands.values()
            for leaf in (leaf_commands(command) if isinstance(command, click.Group) else {command})}


def test_every_command_is_shown_in_the_docs():
    shown = {resolve(shlex.split(line.replace('|', ' ')))[0] for _, line in ALL}
    assert sorted(command.name for command in leaf_commands(cli) - shown) == [], 'commands no page shows'
    assert {page for page, _ in ALL} >= {Path('README.md'), Path('docs/commands.md')}


@pytest.mark.parametrize('page,line', ALL, ids=[f'{p}:{i}' for i, (p, _) in enumerate(ALL)])
def test_every_shown_command_and_option_exists(page, line):
    words = shlex.split(line.replace('|', ' '))  # a synopsis lists choices with '|'
    command, rest = resolve(words)
    assert not isinstance(command, click.Group) or not rest or rest[0].startswith('-'), (
        f'{page}: {line!r} names no command of `mmtard {rest[0]}`')
    options = {opt for param in command.params for opt in param.opts + param.secondary_opts}
    for word in rest:
        flag = word.strip('[]').split('=')[0]
        if flag.startswith('-') and flag not in ('-', '--'):
            assert flag in options, f'{page}: {line!r} uses {flag}, which `{command.name}` does not have'


def test_docs_index_points_at_pages_that_exist():
    readme = (REPO / 'README.md').read_text()
    linked = re.findall(r'\]\((docs/[\w./]+\.md)\)', readme)
    for target in linked:
        assert (REPO / target).is_file(), f'README links {target}, which does not exist'
    unlinked = {f'docs/{p.name}' for p in (REPO / 'docs').glob('*.md')} - set(linked)
    assert not unlinked, f'docs pages missing from the README index: {sorted(unlinked)}'


def test_readme_quick_start_runs(tmp_path, monkeypatch):
    """Train, evaluate, merge and export exactly as the README shows, on the tiny config (its schedule
    cut to 4 iterations so the test takes seconds)."""
    readme = [line for page, line in ALL if page == Path('README.md')]
    tiny = [line for line in readme if 'tiny' in line]
    assert [shlex.split(line)[1] for line in tiny][:4] == ['train', 'eval', 'results', 'export']
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'configs').symlink_to(REPO / 'configs')
    cut = ['-o', 'train_cfg.max_iters=4', '-o', 'train_cfg.val_interval=4', '-o', 'default_hooks.checkpoint.interval=4']
    for line in tiny[:4]:
        words = shlex.split(line.replace('iter_100', 'iter_4'))[1:]
        if words[0] == 'train':
            words += cut
        if words[0] == 'eval':
            words += ['--n-clean', '16', '--n-robust', '4', '--n-iter', '2']
        if words[0] == 'results':
            words = words[:2] + [str(p) for p in (tmp_path / 'work_dirs/tiny/eval').iterdir()] + words[-2:]
        result = CliRunner().invoke(cli, words, catch_exceptions=False)
        assert result.exit_code == 0, f'{line}\n{result.output}'
    assert (tmp_path / 'table.md').is_file() and (tmp_path / 'student.safetensors').is_file()


def shown(page, start):
    """The command of ``page`` that is ``start``, else the only one that starts with it, as printed there."""
    lines = [line for p, line in ALL if p == Path(page)]
    found = [start] if start in lines else [line for line in lines if line.startswith(start)]
    assert len(found) == 1, f'{page} shows {len(found)} commands starting with {start!r}'
    return found[0]


def test_shown_listing_and_config_commands_run_as_printed():
    """The cheap, self-contained commands of docs/commands.md, verbatim (CONFIG: the tiny config). The
    demo's and study's (smoke) run in tests/apps, the export formats in tests/apis/test_export.py."""
    runner = CliRunner()
    listing = runner.invoke(cli, shlex.split(shown('docs/commands.md', 'mmtard list'))[1:], catch_exceptions=False)
    assert listing.exit_code == 0 and 'ReferenceCosineWeighting' in listing.output
    words = shlex.split(shown('docs/commands.md', 'mmtard list weightings'))[1:]
    weightings = json.loads(runner.invoke(cli, words, catch_exceptions=False).output)
    assert 'ReferenceCosineWeighting' in json.dumps(weightings)
    line = shown('docs/commands.md', 'mmtard config show').replace('CONFIG', str(TINY))
    config = runner.invoke(cli, shlex.split(line)[1:], catch_exceptions=False)
    assert config.exit_code == 0 and re.search(r'\beps=2\b', config.output), config.output[-2000:]


def test_configs_page_weighting_override_trains_as_printed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'configs').symlink_to(REPO / 'configs')
    words = shlex.split(shown('docs/configs.md', 'mmtard train'))[1:]
    cut = ['--work-dir', 'w', '-o', 'train_cfg.max_iters=2', '-o', 'train_cfg.val_interval=2',
           '-o', 'default_hooks.checkpoint.interval=2', '-o', 'train_dataloader.batch_size=4',
           '-o', 'train_dataloader.dataset.num_samples=8', '-o', 'val_dataloader.dataset.num_samples=8']
    result = CliRunner().invoke(cli, words + cut, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    saved = (tmp_path / 'w' / Path(words[1]).name).read_text()
    assert "type='FixedWeighting'" in saved and 'robust=1' in saved
