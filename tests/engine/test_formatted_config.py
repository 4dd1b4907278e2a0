"""A training run formats its config's text once, and the text is mmengine's."""
import mmengine.config.config as mmengine_config
from mmengine.config import Config

from mmtard.engine.formatted_config import formatted_once
from shared_inputs import FAST, TINY, train_tiny


def counting_formatter(monkeypatch):
    calls = []
    format_code = mmengine_config.FormatCode

    def counted(*args, **kwargs):
        calls.append(1)
        return format_code(*args, **kwargs)

    monkeypatch.setattr(mmengine_config, 'FormatCode', counted)
    return calls


def test_text_is_mmengines_and_formatted_once_per_content(monkeypatch):
    cfg = Config(dict(model=dict(type='Tiny', width=64), train_cfg=dict(max_iters=10)))
    expected = cfg.pretty_text
    calls = counting_formatter(monkeypatch)
    once = formatted_once(cfg)
    assert [once.pretty_text for _ in range(5)] == [expected] * 5
    assert len(calls) == 1
    once.train_cfg.max_iters = 20  # changed content: formatted anew, never a stale text
    assert 'max_iters=20' in once.pretty_text and len(calls) == 2
    assert cfg.train_cfg.max_iters == 10 and type(cfg) is Config  # the caller's config is left as it was


def test_a_training_run_formats_its_config_once(monkeypatch, tmp_path):
    calls = counting_formatter(monkeypatch)
    run = train_tiny(tmp_path / 'run', FAST)
    assert len(calls) == 1
    assert (run / TINY.name).read_text().count('max_iters=4') >= 1  # the work dir's copy is the formatted text
