"""The model zoo: every entry is loadable by open_clip's names, quotes sane numbers, and resolves by name."""
import time

import open_clip
import pytest
from click.testing import CliRunner
from open_clip import pretrained as open_clip_pretrained
from PIL import Image

from mmtard.cli.eval import eval_command
from mmtard.zoo import zoo_hub_model, zoo_model, zoo_models


def test_every_entry_names_an_open_clip_architecture_its_base_weights_and_where_to_get_it():
    assert len(zoo_models()) == 14
    for model in zoo_models().values():
        assert model.arch in open_clip.list_models(), model.name
        assert open_clip_pretrained.get_pretrained_cfg(model.arch, model.base), model.name
        assert model.hub or model.url, model.name
        assert model.hub is None or model.hub.startswith('hf-hub:chs20/')
        assert model.quick_gelu == (model.base == 'openai')  # OpenAI's CLIPs use QuickGELU
        reported = model.reported
        assert reported['source'].startswith('https://github.com/chs20/RobustVLM')
        robust = [reported['robust'][eps] for eps in sorted(reported['robust'], key=float)]
        assert 0 < robust[-1] and robust == sorted(robust, reverse=True) and robust[0] < reported['clean'] < 100


def test_a_zoo_name_resolves_to_its_hub_id_unless_its_file_is_given():
    assert zoo_hub_model('fare2-vit-l-14', None) == 'hf-hub:chs20/fare2-clip'
    assert zoo_hub_model('fare2-vit-l-14', 'fare_eps_2.pt') == 'fare2-vit-l-14'
    assert zoo_hub_model('ViT-B-32', None) == 'ViT-B-32'
    cfg = zoo_model('fare4-vit-b-32').encoder_config('vitb32_fare_eps_4.pt')
    assert cfg == dict(type='OpenCLIPEncoder', arch='ViT-B-32', pretrained='vitb32_fare_eps_4.pt',
                       text_pretrained='openai', quick_gelu=True)


def test_eval_by_zoo_name_says_how_to_get_a_file_download_and_fails_fast_offline(tmp_path):
    (tmp_path / 'photos' / 'a').mkdir(parents=True)
    (tmp_path / 'photos' / 'b').mkdir(parents=True)
    for name in ('a', 'b'):
        colour = (200, 20, 20) if name == 'a' else (20, 20, 200)
        Image.new('RGB', (32, 32), colour).save(tmp_path / 'photos' / name / '0.png')
    runner = CliRunner()
    result = runner.invoke(eval_command, ['--model', 'fare4-vit-l-14', '--dataset', str(tmp_path / 'photos')])
    text = ' '.join(result.output.split())
    assert result.exit_code == 2 and 'curl -L -o fare_eps_4.pt https://nc.mlcloud' in text
    assert '--model fare4-vit-l-14 --pretrained fare_eps_4.pt' in text
    start = time.perf_counter()
    result = runner.invoke(eval_command, ['--model', 'fare2-vit-l-14', '--dataset', str(tmp_path / 'photos')])
    assert result.exit_code == 2 and time.perf_counter() - start < 10
    assert 'hf-hub:chs20/fare2-clip' in ' '.join(result.output.split())  # HF_HUB_OFFLINE=1: tests/conftest.py


def test_a_typo_beside_all_is_named():
    from mmtard.errors import ConfigError
    from mmtard.zoo import select, zoo_models

    with pytest.raises(ConfigError, match="'fare4' is not in the model zoo"):
        select(['all', 'fare4'])
    assert select(['all']) == list(zoo_models().values())
