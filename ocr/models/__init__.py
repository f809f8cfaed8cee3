"""DBNet: backbone -> FPN neck -> DB head, and the DB loss."""

from ocr.models.dbnet import DBNet

__all__ = ["DBNet"]
