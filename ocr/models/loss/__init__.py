from ocr.models.loss.bce_loss import BalancedBCELoss
from ocr.models.loss.db_loss import DBLoss
from ocr.models.loss.dice_loss import DiceLoss
from ocr.models.loss.l1_loss import MaskL1Loss

__all__ = ["BalancedBCELoss", "DBLoss", "DiceLoss", "MaskL1Loss"]
