"""DB training targets for quadrilateral text boxes: the shrunk probability map and the border
(threshold) map, following the reference implementation's MakeShrinkMap and MakeBorderMap."""

from __future__ import annotations

import cv2
import numpy as np
import pyclipper

Polygon = np.ndarray  # [K, 2] float, (x, y) points


def offset_distance(polygon: Polygon, shrink_ratio: float) -> float:
    """D = A (1 - r^2) / L: the offset that shrinks (or grows) a polygon in DBNet."""
    area = abs(cv2.contourArea(polygon.astype(np.float32)))
    perimeter = cv2.arcLength(polygon.astype(np.float32), closed=True)
    return area * (1 - shrink_ratio**2) / max(perimeter, 1e-6)


def offset_polygon(polygon: Polygon, distance: float) -> list[np.ndarray]:
    """Grow (distance > 0) or shrink (distance < 0) a polygon with rounded corners."""
    clipper = pyclipper.PyclipperOffset()
    clipper.AddPath([tuple(map(int, point)) for point in np.round(polygon)], pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    return [np.array(path, dtype=np.float64) for path in clipper.Execute(distance)]


def shrink_polygon(polygon: Polygon, ignored: bool, shrink_ratio: float = 0.4, min_size: int = 4) -> np.ndarray | None:
    """The polygon shrunk by D, or None where DB ignores it: flagged, under `min_size` pixels on a
    side, or shrunk to nothing (the reference's MakeShrinkMap rule)."""
    box_height = polygon[:, 1].max() - polygon[:, 1].min()
    box_width = polygon[:, 0].max() - polygon[:, 0].min()
    if ignored or min(box_height, box_width) < min_size:
        return None
    shrunk = offset_polygon(polygon, -offset_distance(polygon, shrink_ratio))
    return shrunk[0] if shrunk else None


def shrink_ignore(polygons: list[Polygon], ignore: list[bool], shrink_ratio: float = 0.4, min_size: int = 4) -> list[bool]:
    """The ignore flags after the shrink step, as the reference's MakeShrinkMap leaves them for
    MakeBorderMap: a polygon without a shrunk kernel gets no threshold target either."""
    return [shrink_polygon(polygon, ignored, shrink_ratio, min_size) is None for polygon, ignored in zip(polygons, ignore)]


def make_shrink_map(
    polygons: list[Polygon], ignore: list[bool], height: int, width: int, shrink_ratio: float = 0.4, min_size: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """gt: 1 inside each shrunk text polygon; mask: 0 over ignored or too-small polygons."""
    gt = np.zeros((height, width), dtype=np.float32)
    mask = np.ones((height, width), dtype=np.float32)
    for polygon, ignored in zip(polygons, ignore):
        shrunk = shrink_polygon(polygon, ignored, shrink_ratio, min_size)
        if shrunk is None:
            cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 0.0)
            continue
        cv2.fillPoly(gt, [np.round(shrunk).astype(np.int32)], 1.0)
    return gt, mask


def _point_to_segment_distance(xs: np.ndarray, ys: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distance from each grid point to segment ab."""
    ab = b - a
    length_sq = max(float(ab @ ab), 1e-12)
    t = np.clip(((xs - a[0]) * ab[0] + (ys - a[1]) * ab[1]) / length_sq, 0.0, 1.0)
    distance: np.ndarray = np.hypot(xs - (a[0] + t * ab[0]), ys - (a[1] + t * ab[1]))
    return distance


def make_border_map(
    polygons: list[Polygon],
    ignore: list[bool],
    height: int,
    width: int,
    shrink_ratio: float = 0.4,
    thresh_min: float = 0.3,
    thresh_max: float = 0.7,
) -> tuple[np.ndarray, np.ndarray]:
    """thresh: thresh_min away from text, rising to thresh_max on each polygon's border over the
    band between the shrunk and the grown polygon; mask: 1 over the grown polygons. Pass the
    flags `shrink_ignore` returns, so that polygons the shrink step ignored get no target."""
    canvas = np.zeros((height, width), dtype=np.float32)
    mask = np.zeros((height, width), dtype=np.float32)
    for polygon, ignored in zip(polygons, ignore):
        if ignored:
            continue
        distance = offset_distance(polygon, shrink_ratio)
        grown = offset_polygon(polygon, distance)
        if not grown or distance <= 0:
            continue
        grown_polygon = grown[0]
        cv2.fillPoly(mask, [np.round(grown_polygon).astype(np.int32)], 1.0)

        x0, y0 = np.floor(grown_polygon.min(axis=0)).astype(int)
        x1, y1 = np.ceil(grown_polygon.max(axis=0)).astype(int)
        ys, xs = np.mgrid[y0 : y1 + 1, x0 : x1 + 1].astype(np.float64)
        edge_distance = np.min(
            [_point_to_segment_distance(xs, ys, polygon[i], polygon[(i + 1) % len(polygon)]) for i in range(len(polygon))],
            axis=0,
        )
        closeness = 1 - np.clip(edge_distance / distance, 0.0, 1.0)  # 1 on the border, 0 at D away

        # Clip the box to the image and keep the larger value where boxes overlap.
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, width - 1), min(y1, height - 1)
        if cx0 > cx1 or cy0 > cy1:
            continue
        window = closeness[cy0 - y0 : cy1 - y0 + 1, cx0 - x0 : cx1 - x0 + 1]
        canvas[cy0 : cy1 + 1, cx0 : cx1 + 1] = np.fmax(canvas[cy0 : cy1 + 1, cx0 : cx1 + 1], window)
    return canvas * (thresh_max - thresh_min) + thresh_min, mask
