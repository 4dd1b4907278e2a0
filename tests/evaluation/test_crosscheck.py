"""`mmtard eval`'s robust accuracy agrees with torchattacks' APGD (an independent implementation).

Same tiny trained model, same samples (the record's ``sample_indices``), same eps and iterations.
The tolerance is the attack tests' (tests/attacks/test_crosscheck_torchattacks.py: 3 points; the
random starts come from different generators and torchattacks counts its first step-size window
from a zero row), and the eps is one where robust accuracy is far from 0 and from clean accuracy,
so a broken attack, subset or resume path could not pass by saturation.
"""
import pytest
import torch

from mmtard.apis.evaluate import evaluate, load_model_checkpoint, select_encoder
from mmtard.datasets import ShapesDataset
from mmtard.models.zero_shot import ZeroShotClassifier
from mmtard.registry import MODELS

torchattacks = pytest.importorskip('torchattacks')

TOLERANCE = 0.03
EPS = 2
STEPS = 20


def test_robust_accuracy_matches_torchattacks_apgd(make_config, shapes, checkpoint, tmp_path, quiet):
    dataset_cfg = shapes(256)
    cfg = make_config(datasets=[dict(name='held-out', dataset=dataset_cfg)], n_clean=256, n_robust=256, eps=[EPS],
                      batch_size=128, attack=dict(type='AutoAttack', version='apgd-ce', n_iter=STEPS))
    record, = evaluate(cfg.copy(), checkpoint=checkpoint, out_dir=tmp_path / 'out', progress=quiet)

    model = MODELS.build(cfg.model)
    load_model_checkpoint(model, checkpoint)
    encoder = select_encoder(model, 'student').eval().requires_grad_(False)
    dataset = ShapesDataset(**{k: v for k, v in dataset_cfg.items() if k != 'type'})
    classifier = ZeroShotClassifier(encoder, encoder.class_embeddings(dataset.classnames, dataset.templates))
    images = torch.stack([dataset[i]['inputs'] for i in record.sample_indices])
    labels = torch.tensor([dataset[i]['label'] for i in record.sample_indices])
    adv = torchattacks.APGD(classifier, norm='Linf', eps=EPS / 255, steps=STEPS, loss='ce', seed=0)(images, labels)
    with torch.no_grad():
        theirs = (classifier(adv).argmax(1) == labels).float().mean().item()
        clean = (classifier(images).argmax(1) == labels).float().mean().item()

    assert clean == pytest.approx(record.clean_acc)
    assert 0.1 < theirs < clean - 0.1, 'eps no longer gives an informative robust accuracy'
    assert abs(record.robust_acc - theirs) <= TOLERANCE, (record.robust_acc, theirs)
