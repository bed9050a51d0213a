"""SAPNet's training loss, faithful to the paper and with the official script's bugs fixed.

    total = w_ssim * (-SSIM) + w_cr * contrastive + w_lpips * LPIPS + w_ubs * UBS

- Negative SSIM of the final (unclamped) estimate against the clean image.
- Perceptual contrastive loss (Wu et al. 2021, as in the paper): in VGG16
  space, at relu1_2..relu4_3 with weights 1/32, 1/16, 1/8, 1/4, the ratio
  L1(derained, clean) / L1(derained, rainy): the derained image is the anchor,
  the clean one the positive and the rainy input the negative.
- LPIPS-VGG distance to the clean image, kept differentiable (the official
  script converts it to a Python float, so it never trains the network), on
  the images as they are (it also inverted and resized them to 256x256).
- Unsupervised background segmentation (UBS): the focal loss of a frozen
  segmentation network's logits against their own arg-max, pushing the
  derained image towards confident segmentations. The official script rebuilt
  (and re-initialized) its segmentation network at every step; here it is
  built once and frozen (see ``training.segmentation``).

A term whose backbone weights were not given is disabled with a loud warning;
nothing is ever downloaded.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn

from sapnet_ros.metrics import ssim
from sapnet_ros.training.backbones import LPIPS_TAPS, LPIPSHeads, VGG16Features
from sapnet_ros.training.config import LOSS_TERMS, LossConfig
from sapnet_ros.training.segmentation import LRASPPMobileNetV3

LOG = logging.getLogger(__name__)

CONTRASTIVE_TAPS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
EPSILON = 1e-7


def contrastive_loss(
    anchor: list[torch.Tensor], positive: list[torch.Tensor], negative: list[torch.Tensor], weights: list[float]
) -> torch.Tensor:
    """Sum over layers of weight * L1(anchor, positive) / L1(anchor, negative); positives and negatives are fixed."""
    total = anchor[0].new_zeros((), dtype=torch.float32)
    # zip stops at the shortest: LPIPS's extra relu5_3 activations are not part of this loss.
    for weight, a, p, n in zip(weights, anchor, positive, negative, strict=False):
        a = a.float()
        total = total + weight * F.l1_loss(a, p.detach().float()) / (F.l1_loss(a, n.detach().float()) + EPSILON)
    return total


def self_focal_loss(logits: torch.Tensor, gamma: float) -> torch.Tensor:
    """Focal loss of (B, K, H, W) logits against their own arg-max class (no ground truth needed)."""
    log_p = F.log_softmax(logits.float(), dim=1).max(dim=1).values  # log-probability of the pseudo-label
    return (-((1 - log_p.exp()) ** gamma) * log_p).mean()


def _disabled(term: str, option: str, needs: str) -> None:
    LOG.warning(
        "*** %s loss DISABLED: %s is not set. It needs %s from a local file (--%s); "
        "nothing is downloaded. Training goes on without it. ***",
        term,
        f"loss.{option}",
        needs,
        option.replace("_", "-"),
    )


class TrainingLoss(nn.Module):
    """The weighted sum of the active terms; its networks are frozen and never trained.

    Args:
        config: weights, start epochs and backbone files.
    """

    def __init__(self, config: LossConfig) -> None:
        super().__init__()
        self.config = config
        self.weights = {term: getattr(config, term).weight for term in LOSS_TERMS}
        self.start_epochs = {term: getattr(config, term).start_epoch for term in LOSS_TERMS}
        vgg_file = "a torchvision VGG16 state dict (vgg16-397923af.pth)"
        if self.weights["contrastive"] and config.vgg_weights is None:
            _disabled("contrastive", "vgg_weights", vgg_file)
            self.weights["contrastive"] = 0.0
        if self.weights["lpips"] and (config.vgg_weights is None or config.lpips_weights is None):
            missing = "vgg_weights" if config.vgg_weights is None else "lpips_weights"
            _disabled("LPIPS", missing, f"{vgg_file} and the LPIPS v0.1 VGG heads (lpips/weights/v0.1/vgg.pth)")
            self.weights["lpips"] = 0.0
        if self.weights["ubs"] and config.seg_weights is None:
            _disabled("UBS", "seg_weights", "torchvision LR-ASPP MobileNetV3-Large (lraspp_mobilenet_v3_large-*.pth)")
            self.weights["ubs"] = 0.0
        perceptual = self.weights["contrastive"] or self.weights["lpips"]
        taps = LPIPS_TAPS if self.weights["lpips"] else CONTRASTIVE_TAPS  # LPIPS also needs relu5_3
        self.vgg = VGG16Features(taps).load(config.vgg_weights) if perceptual and config.vgg_weights else None
        self.lpips = LPIPSHeads().load(config.lpips_weights) if self.weights["lpips"] and config.lpips_weights else None
        self.segmentation = (
            LRASPPMobileNetV3().load(config.seg_weights) if self.weights["ubs"] and config.seg_weights else None
        )

    def active(self, epoch: int) -> dict[str, float]:
        """Weights of the terms that count at ``epoch`` (0-based)."""
        return {t: w for t, w in self.weights.items() if w > 0 and epoch >= self.start_epochs[t]}

    def forward(
        self, estimate: torch.Tensor, clean: torch.Tensor, rainy: torch.Tensor, epoch: int
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total loss and each active term (unweighted).

        Args:
            estimate: the network's final unclamped estimate, (B, 3, H, W) RGB.
            clean: the ground truth, (B, 3, H, W) RGB in [0, 1].
            rainy: the network's input, (B, 3, H, W) RGB in [0, 1].
            epoch: 0-based, for the start epochs.
        """
        weights = self.active(epoch)
        terms: dict[str, torch.Tensor] = {}
        if "ssim" in weights:
            with torch.autocast(estimate.device.type, enabled=False):  # E[x^2] - E[x]^2 needs fp32
                terms["ssim"] = -ssim(estimate.float(), clean.float()).mean()
        if self.vgg is not None and ("contrastive" in weights or "lpips" in weights):
            derained_features = self.vgg(estimate)
            with torch.no_grad():
                clean_features, rainy_features = zip(
                    *[f.chunk(2) for f in self.vgg(torch.cat((clean, rainy)))], strict=True
                )
            if "contrastive" in weights:
                terms["contrastive"] = contrastive_loss(
                    derained_features, list(clean_features), list(rainy_features), self.config.contrastive_layers
                )
            if "lpips" in weights and self.lpips is not None:
                terms["lpips"] = self.lpips(derained_features, list(clean_features)).mean()
        if "ubs" in weights and self.segmentation is not None:
            terms["ubs"] = self_focal_loss(self.segmentation(estimate), self.config.focal_gamma)
        total = sum(
            (weights[name] * value for name, value in terms.items()), estimate.new_zeros((), dtype=torch.float32)
        )
        return total, terms
