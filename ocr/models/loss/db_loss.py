"""The DB loss: a dict of named terms and their weighted total."""

from __future__ import annotations

import torch
from torch import nn

from ocr.models.loss.bce_loss import BalancedBCELoss
from ocr.models.loss.dice_loss import DiceLoss
from ocr.models.loss.l1_loss import MaskL1Loss


class DBLoss(nn.Module):
    """loss = bce_scale * BCE(prob) + l1_scale * L1(thresh) + dice_scale * Dice(binary),
    with the reference implementation's weights 5, 10 and 1."""

    def __init__(self, bce_scale: float = 5.0, l1_scale: float = 10.0, dice_scale: float = 1.0, negative_ratio: float = 3.0):
        super().__init__()
        self.scales = {"loss_prob": bce_scale, "loss_thresh": l1_scale, "loss_binary": dice_scale}
        self.bce = BalancedBCELoss(negative_ratio)
        self.l1 = MaskL1Loss()
        self.dice = DiceLoss()

    def forward(self, preds: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """`preds` holds the head's [N, 1, H, W] maps, `batch` the [N, H, W] targets and masks."""
        # The head's one channel is dropped here, once, and the maps are taken to float32, where the
        # terms are summed (under autocast they may come in float16 or bfloat16).
        maps = {name: preds[name][:, 0].float() for name in ("prob_logits", "thresh_map", "binary_map")}
        for name, value in maps.items():
            assert preds[name].shape[1] == 1 and value.shape == batch["gt_shrink"].shape, (name, preds[name].shape)
        terms = {
            "loss_prob": self.bce(maps["prob_logits"], batch["gt_shrink"], batch["gt_shrink_mask"]),
            "loss_thresh": self.l1(maps["thresh_map"], batch["gt_thresh"], batch["gt_thresh_mask"]),
            "loss_binary": self.dice(maps["binary_map"], batch["gt_shrink"], batch["gt_shrink_mask"]),
        }
        weighted = [self.scales[name] * value for name, value in terms.items()]
        return {**terms, "loss": torch.stack(weighted).sum()}
