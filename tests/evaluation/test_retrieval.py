"""Retrieval recall on a matrix worked out by hand, and retrieval through the benchmark."""
import csv

import numpy as np
import pytest
import torch
from PIL import Image

from mmtard.apis.evaluate import evaluate
from mmtard.evaluation.retrieval import caption_gallery, retrieval_recall


def test_recall_on_a_hand_computed_matrix():
    # 3 images, 4 texts: image 0 is described by texts 0 and 1, image 1 by text 2, image 2 by text 3.
    similarity = torch.tensor([[0.9, 0.1, 0.5, 0.3],
                               [0.8, 0.2, 0.4, 0.6],
                               [0.2, 0.7, 0.1, 0.3]])
    # image->text rank (texts scoring above the best true text): image 0: 0, image 1: 2 (0.8, 0.6), image 2: 1 (0.7).
    # text->image rank (images scoring above the true image): text 0: 0; text 1: 2 (0.2, 0.7);
    # text 2: 1 (0.5); text 3: 1 (0.6; the 0.3 tie of image 0 is not above).
    recalls = retrieval_recall(similarity, [[0, 1], [2], [3]], ks=(1, 2, 5))
    assert recalls == pytest.approx({'i2t_r1': 1 / 3, 'i2t_r2': 2 / 3, 'i2t_r5': 1.0,
                                     't2i_r1': 1 / 4, 't2i_r2': 3 / 4, 't2i_r5': 1.0})


def test_recall_default_ks_and_one_caption_per_image():
    recalls = retrieval_recall(torch.eye(12), list(range(12)))
    assert set(recalls) == {f'{d}_r{k}' for d in ('i2t', 't2i') for k in (1, 5, 10)}
    assert all(v == 1.0 for v in recalls.values())


def test_recall_needs_a_truth_per_image():
    with pytest.raises(ValueError, match='one non-empty list'):
        retrieval_recall(torch.zeros(2, 2), [[0]])


def test_caption_gallery_groups_rows_of_one_image():
    files = ['a.png', 'a.png', 'b.png', 'c.png', 'c.png']
    captions = ['a1', 'a2', 'b1', 'c1', 'c2']
    rows, texts, truths = caption_gallery(files, captions, [2, 0])  # distinct images c and a
    assert rows == [3, 0]
    assert texts == ['c1', 'c2', 'a1', 'a2']
    assert truths == [[0, 1], [2, 3]]


@pytest.fixture
def caption_csv(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(tmp_path / f'{i}.png')
        rows.append((f'{i}.png', f'a picture number {i}'))
    rows.append(('0.png', 'the first picture'))
    with open(tmp_path / 'captions.csv', 'w', newline='') as f:
        csv.writer(f).writerows([('filepath', 'caption'), *rows])
    return tmp_path / 'captions.csv'


def test_retrieval_benchmark_records_clean_and_robust_recalls(make_config, caption_csv, tmp_path, quiet):
    cfg = make_config(datasets=[dict(type='CaptionCSVDataset', csv_file=str(caption_csv), image_size=32)],
                      n_clean=None, n_robust=4, retrieval_attack=dict(type='APGD', loss='ce', n_iter=3))
    record, = evaluate(cfg, out_dir=tmp_path / 'out', progress=quiet)
    assert (record.dataset, record.task, record.n, record.n_robust, record.attack, record.sampling) == \
        ('captions', 'retrieval', 6, 4, 'APGD-CE (3 it, 1 restart) [reduced]', 'random')
    assert set(record.metrics) == {f'{p}{d}_r{k}' for p in ('', 'attacked_clean_', 'robust_')
                                   for d in ('i2t', 't2i') for k in (1, 5, 10)}
    # clean recall over all 6 images; clean and robust recall of the 4 attacked ones, against their own gallery
    assert record.clean_acc == record.metrics['i2t_r1']
    assert record.attacked_clean_acc == record.metrics['attacked_clean_i2t_r1']
    assert record.robust_acc == record.metrics['robust_i2t_r1']
    assert record.metrics['i2t_r10'] == 1.0  # 6 images, 7 captions: every caption is in the top 10
    assert len(record.sample_indices) == 4 and set(record.sample_indices) <= set(range(6))  # dataset rows
