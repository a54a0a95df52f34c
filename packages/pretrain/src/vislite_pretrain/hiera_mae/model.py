"""MAE for Hiera: mask-unit masking, multi-scale fusion of the encoder's stages, a light decoder, norm-pix MSE.

MAE-Lite's ``mae_hiera_tiny_224`` (``projects/mae_lite/hiera_mae.py``, after facebookresearch/hiera): the
Hiera-Tiny(46) encoder with only 2 q-pooling stages, so its last two stages share the 1/16 resolution (14x14
tokens at 224 px); mask ratio 0.4 over 8x8-token mask units (32x32 px, 49 units at 224 px). The outputs of
stage 1 and 2 are brought to the final resolution by strided convolutions, added to the last stage's output and
normalised; the decoder (width 96, 1 block, 3 heads) reads that sum, and every 1/16 token predicts its 16x16
pixel patch. The contract is the reference MAE's::

    loss, pred, mask = mae(imgs, mask_ratio=0.4, noise=None)  # pred [N, L, 3*16*16], mask [N, L] (1 = removed)

with ``noise [N, U]`` over the ``U`` mask units (argsort ascending: the first ``int(U * (1 - ratio))`` stay).

The encoder is a vislite ``Hiera`` (timm's, with capturable attention) held as ``mae.encoder``; its final norm
``head.norm`` is the reference's ``encoder_norm`` (timm maps ``encoder_norm`` to ``head.norm`` too), so the
encoder exports as a plain ``vislite_hiera_tiny46`` state dict.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import torch
from timm.layers import to_2tuple
from timm.models.hiera import Hiera as TimmHiera
from timm.models.hiera import HieraBlock, undo_windowing
from torch import nn

import vislite_common  # noqa: F401  (registers the vislite backbones in timm)
from vislite_common.backbones.hiera import Hiera
from vislite_common.backbones.interface import parameter_layer_ids
from vislite_common.backbones.registry import create_backbone
from vislite_pretrain.mae_keys import create_named
from vislite_pretrain.mae_lite.masking import make_masking
from vislite_pretrain.mae_lite.model import masked_mse

LayerNorm6 = partial(nn.LayerNorm, eps=1e-6)


class HieraMAE(nn.Module):
    """Masked autoencoder over a Hiera ``encoder`` (Hiera-MAE / MAE-Lite's hierarchical variant).

    Args:
        encoder: a 2-D vislite/timm Hiera built with ``num_classes=0`` (its ``head.norm`` is the encoder norm),
            one absolute position table and ``q_pool < len(stages)``; its ``img_size`` fixes the input size.
        decoder_embed_dim, decoder_depth, decoder_num_heads, mlp_ratio: the decoder (global-attention Hiera
            blocks, LayerNorm eps 1e-6) on the tokens of the last stage.
        mask_ratio: default fraction of removed mask units, used when ``forward`` gets ``mask_ratio=None``.
        norm_pix_loss: regress per-patch normalised pixels (mean and unbiased variance, eps 1e-6).

    State-dict keys: ``encoder.<timm Hiera keys>``, ``multi_scale_fusion_heads.{i}.*``, ``mask_token``,
    ``decoder_embed.*``, ``decoder_pos_embed``, ``decoder_blocks.*``, ``decoder_norm.*``, ``decoder_pred.*``
    (the reference's keys, with ``encoder.`` added and ``encoder_norm`` as ``encoder.head.norm``).
    """

    def __init__(
        self,
        *,
        encoder: TimmHiera,
        decoder_embed_dim: int = 96,
        decoder_depth: int = 1,
        decoder_num_heads: int = 3,
        mlp_ratio: float = 4.0,
        mask_ratio: float = 0.4,
        norm_pix_loss: bool = True,
    ) -> None:
        super().__init__()
        _check_encoder(encoder)
        if not 0.0 <= mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
        self.encoder = encoder
        self.mask_ratio = mask_ratio
        self.norm_pix_loss = norm_pix_loss
        self.in_chans: int = encoder.in_chans
        q_pool, q_stride = encoder.q_pool, tuple(encoder.q_stride)
        self.mask_unit_final: tuple[int, int] = tuple(m // s**q_pool for m, s in zip(encoder.mask_unit_size, q_stride))
        self.grid_size: tuple[int, int] = tuple(t // s**q_pool for t, s in zip(encoder.tokens_spatial_shape, q_stride))
        self.pred_stride: int = encoder.patch_stride[-1] * q_stride[-1] ** q_pool
        dim = encoder.num_features

        # Stages before the resolution stops changing are brought to the final mask-unit shape by a strided conv.
        self.multi_scale_fusion_heads = nn.ModuleList()
        unit = tuple(encoder.mask_unit_size)
        for end in encoder.stage_ends[:q_pool]:
            kernel = tuple(u // f for u, f in zip(unit, self.mask_unit_final))
            unit = tuple(u // s for u, s in zip(unit, q_stride))
            self.multi_scale_fusion_heads.append(
                nn.Conv2d(encoder.blocks[end].dim_out, dim, kernel_size=kernel, stride=kernel)
            )

        self.decoder_embed = nn.Linear(dim, decoder_embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dim))
        self.decoder_pos_embed = nn.Parameter(torch.zeros(1, self.num_patches, decoder_embed_dim))
        self.decoder_blocks = nn.ModuleList(
            HieraBlock(decoder_embed_dim, decoder_embed_dim, decoder_num_heads, mlp_ratio, norm_layer=LayerNorm6)
            for _ in range(decoder_depth)
        )
        self.decoder_norm = LayerNorm6(decoder_embed_dim)
        self.decoder_pred = nn.Linear(decoder_embed_dim, self.pred_stride**2 * self.in_chans)
        self.initialize_weights()

    # ----------------------------------------------------------------------------------------------- init
    def initialize_weights(self) -> None:
        """The reference's initialisation: N(0, 0.02) truncated position tables and mask token, xavier-uniform
        Linears with zero bias, LayerNorms 1 / 0, xavier-uniform patch embedding (as a Linear on the flattened
        weight) with PyTorch's default bias, PyTorch's default convolutions for the fusion heads."""
        nn.init.trunc_normal_(self.encoder.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        nn.init.trunc_normal_(self.decoder_pos_embed, std=0.02)
        self.apply(_init_module)
        proj = self.encoder.patch_embed.proj
        proj.reset_parameters()  # PyTorch's bias (the reference never re-initialises it)
        nn.init.xavier_uniform_(proj.weight.view(proj.weight.shape[0], -1))  # [D, C*k*k]
        for head in self.multi_scale_fusion_heads:
            head.reset_parameters()

    # ------------------------------------------------------------------------------------------- helpers
    @property
    def num_mask_units(self) -> int:
        """Mask units per image, ``U`` (49 at 224 px: 8x8 tokens of stride 4, i.e. 32x32 pixels each)."""
        return math.prod(self.encoder.mask_spatial_shape)

    @property
    def num_patches(self) -> int:
        """Predicted patches per image, ``L`` (196 at 224 px: the last stage's tokens, ``pred_stride`` px each)."""
        return math.prod(self.grid_size)

    def num_visible(self, mask_ratio: float | None = None) -> int:
        """Visible mask units per image at ``mask_ratio`` (29 of 49 at 224 px and 0.4)."""
        ratio = self.mask_ratio if mask_ratio is None else mask_ratio
        return int(self.num_mask_units * (1 - ratio))

    def patchify(self, imgs: torch.Tensor) -> torch.Tensor:
        """``[N, C, H, W]`` -> ``[N, L, C*s*s]`` with ``s = pred_stride``, channel-major inside a patch (the
        reference's ``unfold`` order, which its ``decoder_pred`` weights assume)."""
        s = self.pred_stride
        n, c, h, w = imgs.shape
        if h % s or w % s:
            raise ValueError(f"image size {h}x{w} is not a multiple of the prediction stride {s}")
        x = imgs.reshape(n, c, h // s, s, w // s, s)  # [N, C, gh, s, gw, s]
        return x.permute(0, 2, 4, 1, 3, 5).reshape(n, (h // s) * (w // s), c * s * s)  # [N, L, C*s*s]

    def unpatchify(self, patches: torch.Tensor) -> torch.Tensor:
        """``[N, L, C*s*s]`` -> ``[N, C, H, W]``, the inverse of :meth:`patchify`."""
        s, c = self.pred_stride, self.in_chans
        gh, gw = self.grid_size
        x = patches.reshape(patches.shape[0], gh, gw, c, s, s)  # [N, gh, gw, C, s, s]
        return x.permute(0, 3, 1, 4, 2, 5).reshape(patches.shape[0], c, gh * s, gw * s)  # [N, C, H, W]

    def random_mask(
        self, batch: int, mask_ratio: float, noise: torch.Tensor | None = None, device: Any = None
    ) -> torch.Tensor:
        """Mask-unit mask ``[N, U]`` (float, 1 = removed): the ``int(U * (1 - ratio))`` units of smallest noise
        stay. The same noise gives the same mask."""
        return make_masking(batch, self.num_mask_units, mask_ratio, noise, device=device).mask

    def patch_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """Mask-unit mask ``[N, U]`` -> the same mask on the predicted patches ``[N, L]``, in raster order."""
        my, mx = self.mask_unit_final
        x = mask[:, :, None, None, None].expand(-1, -1, my, mx, 1)  # [N, U, my, mx, 1]
        return undo_windowing(x, list(self.grid_size), list(self.mask_unit_final)).reshape(mask.shape[0], -1)

    # ------------------------------------------------------------------------------------------- forward
    def forward_encoder(
        self,
        imgs: torch.Tensor,
        mask_ratio: float,
        noise: torch.Tensor | None = None,
        *,
        mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode the visible mask units and fuse the stages.

        ``mask [N, U]`` (1 = removed) overrides ``noise``; distillation passes the student's mask to the teacher.

        Returns:
            ``(latent [N, K, my, mx, D], mask [N, U])``: the normalised sum of the fused stage outputs for the
            ``K`` visible units in ascending unit order, each ``my x mx`` tokens of the last stage.
        """
        if mask is None:
            mask = self.random_mask(imgs.shape[0], mask_ratio, noise, device=imgs.device)
        elif mask.shape != (imgs.shape[0], self.num_mask_units):
            raise ValueError(f"mask must have shape {(imgs.shape[0], self.num_mask_units)}, got {tuple(mask.shape)}")
        keep = mask == 0  # [N, U] bool, timm's convention (True = kept)
        _, stages = self.encoder.forward_features(imgs, mask=keep, return_intermediates=True)
        # stages[i]: [N, K, My_i, Mx_i, C_i]; the last stages share the final resolution, so only the last is used
        latent = stages[-1]
        for head, features in zip(self.multi_scale_fusion_heads, stages):
            latent = latent + _apply_fusion_head(head, features)
        return self.encoder.head.norm(latent), mask

    def forward_decoder(self, latent: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Predict every patch: ``latent [N, K, my, mx, D]`` and ``mask [N, U]`` -> ``pred [N, L, C*s*s]``."""
        x = self.decoder_embed(latent)  # [N, K, my, mx, Dd]
        batch, units = mask.shape
        dim = x.shape[-1]
        tokens = self.mask_token.to(x.dtype).expand(batch, units, *self.mask_unit_final, dim)  # [N, U, my, mx, Dd]
        # visible units take their place in ascending unit order, the others keep the mask token
        x = tokens.index_put((mask == 0,), x.flatten(0, 1))  # [N, U, my, mx, Dd]
        x = undo_windowing(x, list(self.grid_size), list(self.mask_unit_final))  # [N, gh, gw, Dd], raster order
        x = x.reshape(batch, -1, dim) + self.decoder_pos_embed  # [N, L, Dd]
        for block in self.decoder_blocks:
            x = block(x)
        return self.decoder_pred(self.decoder_norm(x))  # [N, L, C*s*s]

    def target(self, imgs: torch.Tensor) -> torch.Tensor:
        """Regression target ``[N, L, C*s*s]`` (float32): per-patch normalised pixels with ``norm_pix_loss``.

        ``imgs`` may also be given already patchified.
        """
        target = (self.patchify(imgs) if imgs.dim() == 4 else imgs).float()  # [N, L, C*s*s]
        if self.norm_pix_loss:
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)  # unbiased, as the reference
            target = (target - mean) / (var + 1.0e-6) ** 0.5
        return target

    def forward_loss(self, imgs: torch.Tensor, pred: torch.Tensor, patch_mask: torch.Tensor) -> torch.Tensor:
        """Mean over the removed patches (``patch_mask [N, L] == 1``) of the per-patch MSE, in float32."""
        return masked_mse(pred, self.target(imgs), patch_mask)

    def forward(
        self, imgs: torch.Tensor, mask_ratio: float | None = None, noise: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(loss, pred [N, L, C*s*s], mask [N, L])`` with ``mask`` on the predicted patches (1 = removed);
        ``noise`` is ``[N, U]`` over mask units; ``mask_ratio=None`` uses ``self.mask_ratio`` (0.4)."""
        ratio = self.mask_ratio if mask_ratio is None else mask_ratio
        latent, mask = self.forward_encoder(imgs, ratio, noise)
        pred = self.forward_decoder(latent, mask)
        patch_mask = self.patch_mask(mask)
        return self.forward_loss(imgs, pred, patch_mask), pred, patch_mask

    # --------------------------------------------------------------------------------- optimiser helpers
    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        """Names exempt from weight decay under ``decay_rule="names"``: the position tables and the mask token.
        The pre-training recipes use ``decay_rule="timm_0412"``, which decays all three, as MAE-Lite does."""
        return {"encoder.pos_embed", "mask_token", "decoder_pos_embed"}

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict[str, Any]:
        """timm parameter groups: embeddings and mask token 0, encoder block ``k`` is ``k + 1``; the encoder
        norm, the fusion heads and the decoder come last."""
        return dict(
            stem=r"^encoder\.(?:pos_embed|patch_embed)|^mask_token",
            blocks=[(r"^encoder\.blocks\.(\d+)", None), (r"^encoder\.head\.norm", (99999,))],
        )

    def layer_ids(self) -> dict[str, int]:
        """Layer id of every parameter (``group_matcher``; fusion and decoder parameters get the last id)."""
        return parameter_layer_ids(self)

    @contextmanager
    def capture_attention(self, indices: int | list[int] | tuple[int, ...]) -> Iterator[dict[int, torch.Tensor]]:
        """Capture the encoder's pre-softmax attention logits of blocks ``indices`` (``-1`` = last) during the
        ``with`` body. A global-attention block gives ``[N, heads, T, T]`` over its ``T`` visible tokens (116 for
        Hiera-Tiny(46)'s last block at 224 px and ratio 0.4: 29 units of 2x2 tokens)."""
        with self.encoder.capture_attention(indices) as captured:
            yield captured

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute the encoder blocks in the backward pass (less memory, more compute)."""
        self.encoder.set_grad_checkpointing(enable)


def _apply_fusion_head(head: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``[N, K, My, Mx, C]`` -> ``head`` per mask unit -> ``[N, K, my, mx, D]``."""
    batch, units = x.shape[:2]
    y = head(x.flatten(0, 1).permute(0, 3, 1, 2))  # [N*K, D, my, mx]
    return y.permute(0, 2, 3, 1).reshape(batch, units, *y.shape[2:], y.shape[1])  # [N, K, my, mx, D]


def _init_module(module: nn.Module) -> None:
    """MAE's ``_init_weights``: xavier-uniform Linears with zero bias, LayerNorm weight 1 / bias 0."""
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm) and module.elementwise_affine:
        nn.init.ones_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def _check_encoder(encoder: nn.Module) -> None:
    """Refuse encoders the Hiera MAE cannot run (it needs timm Hiera's masked, multi-stage forward)."""
    if not isinstance(encoder, TimmHiera):
        raise TypeError(f"HieraMAE needs a timm/vislite Hiera encoder, got {type(encoder).__name__}")
    problems = []
    if len(encoder.q_stride) != 2:
        problems.append(f"{len(encoder.q_stride)}-D input (images only)")
    if encoder.pos_embed is None or encoder.pos_embed.ndim != 3:
        problems.append("no flat absolute position table (sep_pos_embed / abs_win_pos_embed are unsupported)")
    if not isinstance(encoder.head.fc, nn.Identity):
        problems.append("a classifier (build it with num_classes=0)")
    if isinstance(encoder.head.norm, nn.Identity):
        problems.append("no final norm head.norm")
    if encoder.patch_drop_rate > 0:
        problems.append("patch_drop_rate > 0")
    if problems:
        raise ValueError(f"unsupported HieraMAE encoder {type(encoder).__name__}: " + "; ".join(problems))


# ----------------------------------------------------------------------------------------------- factories
HIERA_BASE_ARGS: dict[str, Any] = {"embed_dim": 96, "num_heads": 1, "stages": (2, 3, 16, 3)}
"""Hiera-Base (facebookresearch/hiera ``hiera_base_224``): widths 96-192-384-768, heads 1-2-4-8, 24 blocks."""


def hiera_base_encoder(*, img_size: int | tuple[int, int] = 224, q_pool: int = 2, **kwargs: Any) -> Hiera:
    """A headless Hiera-Base encoder (vislite ``Hiera``, capturable attention), as in ``mae_hiera_base_224``."""
    return Hiera(img_size=to_2tuple(img_size), q_pool=q_pool, num_classes=0, **{**HIERA_BASE_ARGS, **kwargs})


def build_hiera_mae(
    encoder_name: str = "vislite_hiera_tiny46",
    *,
    encoder: TimmHiera | None = None,
    img_size: int | tuple[int, int] = 224,
    q_pool: int = 2,
    decoder_embed_dim: int = 96,
    decoder_depth: int = 1,
    decoder_num_heads: int = 3,
    mlp_ratio: float = 4.0,
    mask_ratio: float = 0.4,
    norm_pix_loss: bool = True,
    drop_path_rate: float = 0.0,
    **encoder_kwargs: Any,
) -> HieraMAE:
    """Hiera MAE over a registered vislite Hiera (``timm.create_model(encoder_name, num_classes=0, q_pool=2,
    img_size=img_size, ...)``; further keyword arguments go to it), or over a given ``encoder``."""
    if encoder is None:
        encoder = create_backbone(
            encoder_name,
            num_classes=0,
            img_size=to_2tuple(img_size),
            q_pool=q_pool,
            drop_path_rate=drop_path_rate,
            **encoder_kwargs,
        )
    return HieraMAE(
        encoder=encoder,
        decoder_embed_dim=decoder_embed_dim,
        decoder_depth=decoder_depth,
        decoder_num_heads=decoder_num_heads,
        mlp_ratio=mlp_ratio,
        mask_ratio=mask_ratio,
        norm_pix_loss=norm_pix_loss,
    )


def mae_hiera_tiny46(**kwargs: Any) -> HieraMAE:
    """MAE-Lite's ``mae_hiera_tiny_224``: Hiera-Tiny(46) encoder with 2 q-pooling stages, decoder 96 wide,
    1 block, 3 heads, mask ratio 0.4 (6,973,838 parameters at 224 px)."""
    return build_hiera_mae("vislite_hiera_tiny46", **kwargs)


def mae_hiera_base(*, img_size: int | tuple[int, int] = 224, **kwargs: Any) -> HieraMAE:
    """Hiera's ``mae_hiera_base_224`` (the distillation teacher): Hiera-Base encoder with 2 q-pooling stages,
    decoder 512 wide, 8 blocks, 16 heads, mask ratio 0.6 (78,635,648 parameters at 224 px)."""
    args = {"decoder_embed_dim": 512, "decoder_depth": 8, "decoder_num_heads": 16, "mask_ratio": 0.6, **kwargs}
    return build_hiera_mae(encoder=hiera_base_encoder(img_size=img_size), **args)


def mae_test_hiera(**kwargs: Any) -> HieraMAE:
    """A tiny Hiera MAE for tests: ``test_vislite_hiera`` encoder (64 px, 4 mask units of 8x8 tokens, widths
    8-16-32-64); decoder 16 wide, 1 block, 2 heads; 16 predicted 16x16 patches."""
    args = {"img_size": 64, "decoder_embed_dim": 16, "decoder_num_heads": 2}
    return build_hiera_mae("test_vislite_hiera", **{**args, **kwargs})


HIERA_MAE_MODELS: dict[str, Callable[..., HieraMAE]] = {
    "mae_hiera_tiny46": mae_hiera_tiny46,
    "mae_hiera_base": mae_hiera_base,
    "mae_test_hiera": mae_test_hiera,
}


def create_hiera_mae(name: str, **kwargs: Any) -> HieraMAE:
    """Build a model of :data:`HIERA_MAE_MODELS` by name (``create_hiera_mae("mae_hiera_tiny46", img_size=96)``)."""
    return create_named(HIERA_MAE_MODELS, name, "Hiera MAE", **kwargs)
