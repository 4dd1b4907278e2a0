"""Zero-shot image-text retrieval: recall@k both ways, and the caption gallery of a caption CSV.

Caption datasets list one (image, caption) pair per row, often several rows per image (COCO and
Flickr have five captions each); retrieval treats each distinct image once and counts an image as
found by text j only if it is the image j describes.
"""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import torch
from torch import Tensor

RECALL_AT = (1, 5, 10)


def retrieval_recall(similarity: Tensor, image_to_text_gt: Sequence[Sequence[int]],
                     ks: Sequence[int] = RECALL_AT) -> Dict[str, float]:
    """Recall@k of image->text (``i2t_r{k}``) and text->image (``t2i_r{k}``) retrieval.

    ``similarity[i, j]``: score of image i with text j; ``image_to_text_gt[i]``: the texts that
    describe image i (an int or a list). Image i is retrieved at rank r = the number of texts
    scoring strictly higher than its best true text (k-recall: r < k); text j at the rank of its
    image among all images. Texts that describe no image are ignored.
    """
    similarity = similarity.float()
    n_images, n_texts = similarity.shape
    truths = [[int(t)] if isinstance(t, int) or (torch.is_tensor(t) and t.dim() == 0) else [int(x) for x in t]
              for t in image_to_text_gt]
    if len(truths) != n_images or any(not t for t in truths):
        raise ValueError(f'image_to_text_gt needs one non-empty list of text indices per image ({n_images}), '
                         f'got {len(truths)} entries.')
    owner = torch.full((n_texts,), -1, dtype=torch.long)
    for image, texts in enumerate(truths):
        owner[texts] = image
    best_true = torch.stack([similarity[i, texts].max() for i, texts in enumerate(truths)])
    i2t_rank = (similarity > best_true[:, None]).sum(dim=1)
    described = (owner >= 0).nonzero()[:, 0]
    true_score = similarity[owner[described], described]
    t2i_rank = (similarity[:, described] > true_score[None, :]).sum(dim=0)
    recalls = {}
    for k in ks:
        recalls[f'i2t_r{k}'] = (i2t_rank < k).float().mean().item()
    for k in ks:
        recalls[f't2i_r{k}'] = (t2i_rank < k).float().mean().item()
    return recalls


def caption_gallery(image_files: Sequence[object], captions: Sequence[str],
                    image_order: Sequence[int]) -> Tuple[List[int], List[str], List[List[int]]]:
    """For the distinct images ``image_order`` (indices into the distinct images, first-seen order):
    (one dataset row per image, every caption of those images, the caption indices of each image)."""
    rows_of: Dict[object, List[int]] = {}
    for row, file in enumerate(image_files):
        rows_of.setdefault(file, []).append(row)
    groups = list(rows_of.values())
    rows, texts, truths = [], [], []
    for image in image_order:
        group = groups[image]
        rows.append(group[0])
        truths.append(list(range(len(texts), len(texts) + len(group))))
        texts.extend(captions[row] for row in group)
    return rows, texts, truths


def distinct_images(image_files: Sequence[object]) -> int:
    """Number of distinct images among a caption dataset's rows."""
    return len(set(image_files))
