"""ShapesViT: a tiny vision transformer (timm's ``VisionTransformer``) for the synthetic shapes.

The same 64x64 images as :class:`ShapesGapNet`, cut into an 8x8 grid of 8x8-pixel patches. Each
patch becomes one **token** (a vector of C = 64 numbers), a learned **class token** is put in
front, a learned position embedding is added, and four transformer blocks let the 1 + 64 tokens
exchange information through self-attention. The classifier reads the class token only:

    tokens_0 = [cls ; patch_embed(x)] + pos_embed           (N, 1 + 8·8, 64)
    tokens_l = block_l(tokens_{l-1}),  l = 1 … 4             (N, 1 + 8·8, 64)
    y        = head(norm(tokens_4)[:, 0])                     (N, 5)

Every block is pre-norm: t = t + attn(norm1(t)); t = t + mlp(norm2(t)). A block's output has the
shape of its input, (N, 1 + h·w, C): the h·w = 64 patch tokens, laid out on their 8x8 grid, are
feature maps (see :mod:`cam_utils.tokens`).

The patch embedding is a small convolutional stem (the "hybrid" input of Dosovitskiy et al., 2021,
section 3.1; Xiao et al., NeurIPS 2021, "Early convolutions help transformers see better") rather
than one linear projection per patch. Measured with the same training loop (Adam, cosine schedule,
batch 64, 8000 images, 12 epochs planned): the linear patch projection was at 41 % held-out accuracy
after 6 epochs (stopped there), a three-conv stem (15x15-pixel windows) ended at 88 %; this stem
(31x31-pixel windows) gives 94.8 % with the shipped recipe (12 000 images, 6 epochs, about 290 CPU
seconds). Token (i, j) still stands for patch (i, j).
"""

from __future__ import annotations

from typing import ClassVar

from timm.models.vision_transformer import VisionTransformer
from torch import nn

from .data import CLASS_NAMES, IMAGE_SIZE
from .gapnet import conv_block

PATCH_SIZE = 8
"""Side of a patch in pixels: a 64x64 image gives an 8x8 grid of patch tokens."""


def conv_stem(embed_dim: int) -> nn.Sequential:
    """(N, 3, 64, 64) -> (N, embed_dim, 8, 8): three stride-2 conv blocks, one more at 8x8, a 1x1 projection.

    Each output position sees a 31x31-pixel window that contains its 8x8 patch, centred on the patch's top-left
    pixel (measured with autograd in notebook 10).
    """
    return nn.Sequential(
        conv_block(3, 16, stride=2),  # (N, 16, 32, 32)
        conv_block(16, 32, stride=2),  # (N, 32, 16, 16)
        conv_block(32, 64, stride=2),  # (N, 64, 8, 8): one position per patch
        conv_block(64, 64),  # (N, 64, 8, 8)
        nn.Conv2d(64, embed_dim, kernel_size=1),  # (N, C, 8, 8): the token of each patch
    )


class ShapesViT(VisionTransformer):
    """A tiny ViT (Dosovitskiy et al., ICLR 2021) for the shapes: 8x8 patches, a class token, 4 blocks of width 64.

    About 0.2 M parameters (≈ 0.8 MB of float32 weights). ``blocks.0`` … ``blocks.3`` output
    tokens (N, 1 + 64, 64): the class token first, then the 8x8 patches row by row; explain them
    with ``reshape=vit_reshape``.

    Attributes:
        feature_layer: the layer Grad-CAM explains by default, "blocks.2": the last block's
            *input*. (After the last attention only the class token reaches the head, so the patch
            tokens of ``blocks.3`` have zero gradient: a blank map.)
        classifier_layer: the linear head ("head").
        categories: the class names, CLASS_NAMES.
    """

    feature_layer: ClassVar[str] = "blocks.2"
    classifier_layer: ClassVar[str] = "head"
    categories: ClassVar[list[str]] = list(CLASS_NAMES)

    def __init__(
        self,
        num_classes: int = len(CLASS_NAMES),
        embed_dim: int = 64,
        depth: int = 4,
        num_heads: int = 4,
        mlp_ratio: float = 2.0,
    ) -> None:
        super().__init__(
            img_size=IMAGE_SIZE,
            patch_size=PATCH_SIZE,
            in_chans=3,
            num_classes=num_classes,
            global_pool="token",  # the head reads the class token only
            class_token=True,
            embed_dim=embed_dim,
            depth=depth,
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
        )
        # timm's PatchEmbed keeps its checks and flattening; only the projection becomes the stem.
        self.patch_embed.proj = conv_stem(embed_dim)  # (N, 3, 64, 64) -> (N, C, 8, 8)
