"""Detection precision, recall and hmean with one-to-one matching at IoU >= 0.5."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class DetectionScore:
    matched: int
    predicted: int
    expected: int

    @property
    def precision(self) -> float:
        return self.matched / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.matched / self.expected if self.expected else 0.0

    @property
    def hmean(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0

    def __add__(self, other: DetectionScore) -> DetectionScore:
        return DetectionScore(self.matched + other.matched, self.predicted + other.predicted, self.expected + other.expected)


def polygon_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two convex polygons."""
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    inter, _ = cv2.intersectConvexConvex(a32, b32)
    union = abs(cv2.contourArea(a32)) + abs(cv2.contourArea(b32)) - inter
    return float(inter / union) if union > 0 else 0.0


def match_detections(predicted: list[np.ndarray], expected: list[np.ndarray], iou_threshold: float = 0.5) -> DetectionScore:
    """Greedy one-to-one matching, best IoU first."""
    pairs = sorted(
        ((polygon_iou(p, e), i, j) for i, p in enumerate(predicted) for j, e in enumerate(expected)), reverse=True
    )
    used_predicted: set[int] = set()
    used_expected: set[int] = set()
    for iou, i, j in pairs:
        if iou < iou_threshold:
            break
        if i not in used_predicted and j not in used_expected:
            used_predicted.add(i)
            used_expected.add(j)
    return DetectionScore(len(used_predicted), len(predicted), len(expected))
