from ocr.data.synthetic import SyntheticTextDataset, collate
from ocr.data.targets import make_border_map, make_shrink_map, shrink_ignore

__all__ = ["SyntheticTextDataset", "collate", "make_border_map", "make_shrink_map", "shrink_ignore"]
