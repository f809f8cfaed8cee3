"""Targets, synthetic data, post-processing and the metric, from a known box to a score."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ocr.data import SyntheticTextDataset, collate, make_border_map, make_shrink_map, shrink_ignore
from ocr.metric import DetectionScore, match_detections, polygon_iou
from ocr.postprocess import boxes_from_prob_map

BOX = np.array([[10, 10], [49, 10], [49, 29], [10, 29]], dtype=np.float64)


def test_shrink_map_is_inside_the_box_and_smaller_by_the_db_ratio():
    gt, mask = make_shrink_map([BOX], [False], 40, 60)
    ys, xs = np.nonzero(gt)
    assert xs.min() > 10 and xs.max() < 49 and ys.min() > 10 and ys.max() < 29
    area = 40 * 20
    assert 0.3 * area < gt.sum() < 0.7 * area  # r = 0.4 shrinks each side by A (1 - r^2) / L
    assert mask.min() == 1.0


def test_ignored_and_tiny_boxes_are_masked_out():
    tiny = np.array([[1, 1], [3, 1], [3, 2], [1, 2]], dtype=np.float64)
    gt, mask = make_shrink_map([BOX, tiny], [True, False], 40, 60)
    assert gt.sum() == 0
    assert mask[20, 30] == 0 and mask[1, 2] == 0 and mask[35, 55] == 1


def test_border_map_rises_from_0_3_to_0_7_on_the_border():
    thresh, mask = make_border_map([BOX], [False], 40, 60)
    assert thresh.min() == pytest.approx(0.3) and thresh.max() == pytest.approx(0.7)
    assert thresh[10, 30] == pytest.approx(0.7, abs=0.02)  # on the top edge
    assert thresh[20, 30] == pytest.approx(0.3)  # the centre is further than D from every edge
    assert mask[10, 30] == 1 and mask[0, 0] == 0


def test_synthetic_dataset_is_seeded_and_order_independent():
    a, b = SyntheticTextDataset(4, seed=3), SyntheticTextDataset(4, seed=3)
    assert torch.equal(a[2]["image"], b[2]["image"])
    assert not torch.equal(a[2]["image"], SyntheticTextDataset(4, seed=4)[2]["image"])
    batch = collate([a[i] for i in range(4)])
    assert batch["image"].shape == (4, 3, 64, 64) and len(batch["polygons"]) == 4


def test_synthetic_dataset_rejects_sizes_not_multiple_of_32():
    with pytest.raises(ValueError, match="multiples of 32"):
        SyntheticTextDataset(1, height=50)


def test_postprocess_recovers_the_box_from_its_shrunk_probability_map():
    gt, _ = make_shrink_map([BOX], [False], 40, 60)
    detections = boxes_from_prob_map(gt)
    assert len(detections) == 1
    assert polygon_iou(detections[0].box, BOX) > 0.8


def test_postprocess_drops_low_scoring_regions():
    faint = np.zeros((40, 60), dtype=np.float32)
    faint[15:25, 15:45] = 0.4
    assert boxes_from_prob_map(faint, thresh=0.3, box_thresh=0.6) == []


def test_metric_matches_one_to_one_at_iou_0_5():
    shifted = BOX + [5, 0]
    far = BOX + [100, 100]
    score = match_detections([BOX, shifted, far], [BOX])
    assert score == DetectionScore(matched=1, predicted=3, expected=1)
    assert score.precision == pytest.approx(1 / 3) and score.recall == 1.0
    assert score.hmean == pytest.approx(0.5)
    assert DetectionScore(0, 0, 0).hmean == 0.0


def test_polygons_the_shrink_step_ignores_get_no_threshold_target():
    """DB's rule: MakeShrinkMap marks a polygon too small to shrink as ignored, and MakeBorderMap
    then leaves it out, so its pixels are masked in both maps instead of teaching a border."""
    tiny = np.array([[20, 36], [45, 36], [45, 38], [20, 38]], dtype=np.float64)  # 2 pixels high, clear of BOX's border
    ignore = shrink_ignore([BOX, tiny], [False, False])
    assert ignore == [False, True]
    gt, shrink_mask = make_shrink_map([BOX, tiny], ignore, 40, 60)
    thresh, thresh_mask = make_border_map([BOX, tiny], ignore, 40, 60)
    assert shrink_mask[37, 30] == 0 and gt[37, 30] == 0
    assert thresh_mask[37, 30] == 0 and thresh[37, 30] == pytest.approx(0.3)
    assert thresh_mask[10, 30] == 1 and thresh[10, 30] == pytest.approx(0.7, abs=0.02)  # BOX keeps its border
    # and the dataset follows the same rule
    with_tiny = make_border_map([BOX, tiny], [False, False], 40, 60)[1]
    assert with_tiny[37, 30] == 1  # what the border map alone would have taught


def test_postprocess_recovers_every_box_from_perfect_maps():
    """On the ground-truth kernels of 64 synthetic images every box comes back at IoU 0.5 with the
    defaults; with DB's unclip ratio 1.5, sized for 640-pixel images, some do not."""
    dataset = SyntheticTextDataset(64, seed=10_000)
    samples = [dataset.sample(i) for i in range(len(dataset))]
    kernels = [make_shrink_map(s.polygons, [False] * len(s.polygons), 64, 64)[0] for s in samples]

    def score(**options: float) -> DetectionScore:
        total = DetectionScore(0, 0, 0)
        for sample, kernel in zip(samples, kernels):
            total = total + match_detections([d.box for d in boxes_from_prob_map(kernel, **options)], sample.polygons)
        return total

    assert score().hmean == 1.0
    assert score(unclip_ratio=1.5).hmean < 0.95


def test_postprocess_box_thresh_and_minimum_sizes():
    prob = np.zeros((64, 64), dtype=np.float32)
    prob[10:14, 10:40] = 0.55  # a kernel the size of small text, scored under DB's 0.7
    prob[40, 40] = 0.9  # a one-pixel speck
    boxes = boxes_from_prob_map(prob)
    assert len(boxes) == 1 and boxes[0].score == pytest.approx(0.55)
    assert boxes_from_prob_map(prob, box_thresh=0.7) == []
    assert boxes_from_prob_map(prob, min_side=8.0) == []
