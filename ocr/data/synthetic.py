"""A seeded synthetic dataset of text-like images: rows of dark glyph strokes on a noisy light
background, with the quadrilateral of each word as ground truth. No downloads, fully reproducible."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch

from ocr.data.targets import make_border_map, make_shrink_map, shrink_ignore


@dataclass(frozen=True)
class Sample:
    image: np.ndarray  # [H, W, 3] float32 in [0, 1]
    polygons: list[np.ndarray]  # each [4, 2] (x, y), clockwise from top-left


def draw_sample(rng: np.random.Generator, height: int, width: int, max_words: int = 3) -> Sample:
    """Draw words as runs of glyph-like strokes; words never overlap."""
    background = rng.uniform(0.6, 0.95)
    image = np.full((height, width, 3), background, dtype=np.float32)
    image += rng.normal(0.0, 0.03, size=image.shape).astype(np.float32)
    polygons: list[np.ndarray] = []
    occupied = np.zeros((height, width), dtype=bool)
    for _ in range(int(rng.integers(1, max_words + 1))):
        glyph_h = int(rng.integers(max(6, height // 10), max(8, height // 5)))
        glyph_w = max(3, int(glyph_h * rng.uniform(0.5, 0.8)))
        count = int(rng.integers(2, 6))
        word_w = count * (glyph_w + 2)
        if word_w + 4 >= width or glyph_h + 4 >= height:
            continue
        x0 = int(rng.integers(2, width - word_w - 2))
        y0 = int(rng.integers(2, height - glyph_h - 2))
        if occupied[max(0, y0 - 3) : y0 + glyph_h + 3, max(0, x0 - 3) : x0 + word_w + 3].any():
            continue
        occupied[y0 : y0 + glyph_h, x0 : x0 + word_w] = True
        ink = float(rng.uniform(0.0, 0.3))
        for index in range(count):
            gx = x0 + index * (glyph_w + 2)
            thickness = max(1, glyph_h // 6)
            # A glyph: a vertical stem plus one or two random bars or a ring.
            cv2.line(image, (gx + 1, y0), (gx + 1, y0 + glyph_h - 1), (ink,) * 3, thickness)
            shape = int(rng.integers(0, 3))
            if shape == 0:
                cv2.line(image, (gx, y0), (gx + glyph_w - 1, y0), (ink,) * 3, thickness)
                cv2.line(image, (gx, y0 + glyph_h // 2), (gx + glyph_w - 1, y0 + glyph_h // 2), (ink,) * 3, thickness)
            elif shape == 1:
                cv2.ellipse(image, (gx + glyph_w // 2, y0 + glyph_h // 2), (glyph_w // 2, glyph_h // 2), 0, 0, 360, (ink,) * 3, thickness)
            else:
                cv2.line(image, (gx, y0 + glyph_h - 1), (gx + glyph_w - 1, y0 + glyph_h - 1), (ink,) * 3, thickness)
        polygons.append(
            np.array([[x0, y0], [x0 + word_w - 1, y0], [x0 + word_w - 1, y0 + glyph_h - 1], [x0, y0 + glyph_h - 1]], dtype=np.float64)
        )
    return Sample(np.clip(image, 0.0, 1.0), polygons)


class SyntheticTextDataset(torch.utils.data.Dataset[dict[str, Any]]):
    """Sample `index` is the same for a given `seed`, whatever the order of access."""

    def __init__(self, length: int, height: int = 64, width: int = 64, seed: int = 0):
        if height % 32 or width % 32:
            raise ValueError(f"height and width must be multiples of 32, got {height}x{width}")
        self.length, self.height, self.width, self.seed = length, height, width, seed

    def __len__(self) -> int:
        return self.length

    def sample(self, index: int) -> Sample:
        return draw_sample(np.random.default_rng([self.seed, index]), self.height, self.width)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | list[np.ndarray]]:
        sample = self.sample(index)
        # The reference pipeline's order: the shrink step decides which polygons are ignored (too
        # small, or shrunk to nothing), and the border map leaves those out as well.
        ignore = shrink_ignore(sample.polygons, [False] * len(sample.polygons))
        gt_shrink, gt_shrink_mask = make_shrink_map(sample.polygons, ignore, self.height, self.width)
        gt_thresh, gt_thresh_mask = make_border_map(sample.polygons, ignore, self.height, self.width)
        return {
            "image": torch.from_numpy(sample.image).permute(2, 0, 1).contiguous(),  # [3, H, W]
            "gt_shrink": torch.from_numpy(gt_shrink),
            "gt_shrink_mask": torch.from_numpy(gt_shrink_mask),
            "gt_thresh": torch.from_numpy(gt_thresh),
            "gt_thresh_mask": torch.from_numpy(gt_thresh_mask),
            "polygons": sample.polygons,
        }


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack tensors; keep each image's polygons as a list."""
    batch: dict[str, Any] = {key: torch.stack([item[key] for item in items]) for key in items[0] if key != "polygons"}
    batch["polygons"] = [item["polygons"] for item in items]
    return batch
