from ocr.models.head.db_head import DBHead

__all__ = ["DBHead"]
