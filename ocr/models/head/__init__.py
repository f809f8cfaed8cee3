from ocr.models.head.db_head import DBHead, differentiable_binarization

__all__ = ["DBHead", "differentiable_binarization"]
