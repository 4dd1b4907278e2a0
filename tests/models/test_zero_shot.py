"""Class embeddings (batched, cached on disk) and the zero-shot head."""
import os

import pytest
import torch
import torch.nn.functional as F
from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

from mmtard.models.encoders import OpenCLIPEncoder, TimmEncoder
from mmtard.models.zero_shot import ZeroShotClassifier

TINY_VIT = 'mmtard-tiny-vit'


@pytest.fixture
def encoder():
    torch.manual_seed(0)
    return OpenCLIPEncoder(TINY_VIT)


def count_text_batches(monkeypatch, encoder):
    calls = []
    original = encoder.text_features

    def counting(texts):
        calls.append(len(texts))
        return original(texts)

    monkeypatch.setattr(encoder, 'text_features', counting)
    return calls


def test_class_embedding_is_renormalised_mean_of_template_embeddings(encoder, classnames, templates):
    weights = encoder.class_embeddings(classnames, templates)
    for row, name in zip(weights, classnames):
        prompts = encoder.encode_text([t.format(name) for t in templates])
        torch.testing.assert_close(row, F.normalize(prompts.mean(0), dim=0))


def test_callable_and_string_templates_agree(encoder, classnames):
    callables = OPENAI_IMAGENET_TEMPLATES[:3]
    strings = [t('{}') for t in callables]
    torch.testing.assert_close(encoder.class_embeddings(classnames, callables),
                               encoder.class_embeddings(classnames, strings))
    assert (encoder.class_embedding_cache_key(classnames, callables)
            == encoder.class_embedding_cache_key(classnames, strings))


def test_many_prompts_are_batched(monkeypatch, encoder):
    calls = count_text_batches(monkeypatch, encoder)
    encoder.class_embeddings([f'class {i}' for i in range(100)], ['a {}.', 'the {}.', 'one {}.'])
    assert len(calls) == 2 and max(calls) == 256


def test_cache_hit_does_not_recompute(monkeypatch, tmp_path, encoder, classnames, templates):
    calls = count_text_batches(monkeypatch, encoder)
    first = encoder.class_embeddings(classnames, templates, cache_dir=str(tmp_path))
    assert len(calls) == 1
    key = encoder.class_embedding_cache_key(classnames, templates)
    assert os.listdir(tmp_path) == [f'{key}.pt'] and len(key) == 64
    second = encoder.class_embeddings(classnames, templates, cache_dir=str(tmp_path))
    assert len(calls) == 1
    assert torch.equal(first, second)


def test_cache_key_follows_text_weights_classes_and_templates(encoder, classnames, templates):
    key = encoder.class_embedding_cache_key(classnames, templates)
    assert encoder.class_embedding_cache_key(classnames[:2], templates) != key
    assert encoder.class_embedding_cache_key(classnames, templates[:1]) != key
    with torch.no_grad():  # training the image tower keeps the text embeddings (and the cache) valid
        encoder.model.visual.proj.add_(1.0)
    assert encoder.class_embedding_cache_key(classnames, templates) == key
    with torch.no_grad():
        encoder.model.text_projection.add_(1.0)
    assert encoder.class_embedding_cache_key(classnames, templates) != key


def test_cache_key_differs_between_architectures(classnames, templates):
    torch.manual_seed(0)
    vit = OpenCLIPEncoder(TINY_VIT)
    torch.manual_seed(0)
    rn = OpenCLIPEncoder('mmtard-tiny-rn')
    assert vit.class_embedding_cache_key(classnames, templates) != rn.class_embedding_cache_key(classnames, templates)


def test_timm_student_shares_the_text_tower_cache(encoder, classnames, templates):
    student = TimmEncoder('test_resnet', text_tower=dict(arch=TINY_VIT), image_size=32)
    student.text.load_state_dict({k: v for k, v in encoder.model.state_dict().items() if not k.startswith('visual.')})
    assert student.class_embedding_cache_key(classnames, templates) == encoder.class_embedding_cache_key(
        classnames, templates)
    torch.testing.assert_close(student.class_embeddings(classnames, templates),
                               encoder.class_embeddings(classnames, templates))


def test_weights_checksum_tracks_every_weight(encoder):
    before = encoder.weights_checksum()
    assert before == encoder.weights_checksum()
    with torch.no_grad():
        encoder.model.visual.proj[0, 0] += 1
    assert encoder.weights_checksum() != before


def test_model_checksum_also_tracks_the_pixel_preprocessing():
    same = [OpenCLIPEncoder(TINY_VIT) for _ in range(2)]
    same[1].load_state_dict(same[0].state_dict())
    assert same[0].model_checksum() == same[1].model_checksum()
    other_std = OpenCLIPEncoder(TINY_VIT, std=(0.5, 0.5, 0.5))
    other_std.load_state_dict(same[0].state_dict())
    assert other_std.weights_checksum() == same[0].weights_checksum()
    assert other_std.model_checksum() != same[0].model_checksum()  # different embeddings, different key


@pytest.mark.parametrize('classnames_, templates_', [([], ['{}']), (['cat'], []), (['cat'], ['no placeholder'])])
def test_empty_or_bad_prompts_are_rejected(encoder, classnames_, templates_):
    with pytest.raises(ValueError):
        encoder.class_embeddings(classnames_, templates_)


def test_zero_shot_logits(encoder, images, classnames, templates):
    weights = encoder.class_embeddings(classnames, templates)
    head = ZeroShotClassifier(encoder, weights, logit_scale=50.)
    torch.testing.assert_close(head(images), 50. * encoder(images) @ weights.T)
    assert head.num_classes == 3
    assert 'class_embeddings' not in head.state_dict()


def test_zero_shot_rejects_embeddings_of_another_width(encoder):
    with pytest.raises(ValueError, match=r'\(num_classes, 64\)'):
        ZeroShotClassifier(encoder, torch.randn(3, 32))
