"""The MAE-lite masked autoencoder: a vislite ViT encoder on the visible patches and a light decoder.

MAE-Lite recipe (wangsr126/MAE-Lite ``projects/mae_lite/models_mae.py``): ViT-Tiny encoder with 12 heads and
fixed sin-cos position embeddings, decoder width 96, depth 1, 3 heads, mask ratio 0.75, mean squared error on
the masked patches against per-patch normalised pixels. The contract is the reference's::

    loss, pred, mask = mae(imgs, mask_ratio=0.75, noise=None)   # pred [N, L, p*p*3], mask [N, L] (1 = removed)

The encoder is a plain vislite/timm ``VisionTransformer`` held as ``mae.encoder``: its parameters keep timm's
names (``cls_token``, ``pos_embed``, ``patch_embed.*``, ``blocks.*``, ``norm.*``), so it exports as a timm
state dict, and its attention blocks still support ``capture_attention`` (D-MAE distils the last block's logits
on the visible tokens).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import torch
from timm.models import checkpoint_seq
from timm.models.vision_transformer import Block
from torch import nn
from torch.nn import functional as F

import vislite_common  # noqa: F401  (registers the vislite backbones in timm)
from vislite_common.backbones.interface import parameter_layer_ids
from vislite_common.backbones.registry import create_backbone
from vislite_pretrain.mae_keys import create_named
from vislite_pretrain.mae_lite.masking import Masking, gather_tokens, make_masking
from vislite_pretrain.mae_lite.pos_embed import sincos_pos_embed

LayerNorm6 = partial(nn.LayerNorm, eps=1e-6)


class MaskedAutoencoderViT(nn.Module):
    """Masked autoencoder over a ViT ``encoder`` (MAE / MAE-Lite).

    Args:
        encoder: a vislite ViT with a class token, absolute position embeddings and a final ``norm``, built with
            ``num_classes=0`` and ``global_pool="token"`` (or ``""``) and ``fc_norm=False``; its ``img_size``
            decides the model's input size. Its ``pos_embed`` is overwritten with the fixed sin-cos table.
        decoder_embed_dim, decoder_depth, decoder_num_heads, mlp_ratio: the decoder (timm ``Block``s, qkv bias,
            LayerNorm eps 1e-6).
        mask_ratio: default ratio of removed patches, used when ``forward`` gets ``mask_ratio=None``.
        norm_pix_loss: regress per-patch normalised pixels (mean and unbiased variance, eps 1e-6).

    State-dict keys: ``encoder.<timm ViT keys>``, ``mask_token``, ``decoder_embed.*``, ``decoder_pos_embed``,
    ``decoder_blocks.*``, ``decoder_norm.*``, ``decoder_pred.*`` (the reference's keys with ``encoder.`` added
    to the encoder's).
    """

    def __init__(
        self,
        *,
        encoder: nn.Module,
        decoder_embed_dim: int = 96,
        decoder_depth: int = 1,
        decoder_num_heads: int = 3,
        mlp_ratio: float = 4.0,
        mask_ratio: float = 0.75,
        norm_pix_loss: bool = True,
    ) -> None:
        super().__init__()
        _check_encoder(encoder)
        if not 0.0 <= mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
        self.encoder = encoder
        self.mask_ratio = mask_ratio
        self.norm_pix_loss = norm_pix_loss
        self.patch_size: int = encoder.patch_embed.patch_size[0]
        self.in_chans: int = encoder.patch_embed.proj.in_channels
        self.grid_size: tuple[int, int] = tuple(encoder.patch_embed.grid_size)
        num_patches = self.grid_size[0] * self.grid_size[1]
        encoder.pos_embed.requires_grad_(False)  # fixed sin-cos table
        # Embed only the visible patches (a linear map of the gathered pixels) instead of convolving the whole
        # image and then gathering: the same function at a quarter of the cost. False: the reference's order.
        self.visible_patch_embed = True
        self._linear_patch_embed = _is_linear_patch_embed(encoder.patch_embed)

        self.decoder_embed = nn.Linear(encoder.embed_dim, decoder_embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dim))
        self.decoder_pos_embed = nn.Parameter(torch.zeros(1, num_patches + 1, decoder_embed_dim), requires_grad=False)
        self.decoder_blocks = nn.ModuleList(
            Block(decoder_embed_dim, decoder_num_heads, mlp_ratio, qkv_bias=True, norm_layer=LayerNorm6)
            for _ in range(decoder_depth)
        )
        self.decoder_norm = LayerNorm6(decoder_embed_dim)
        self.decoder_pred = nn.Linear(decoder_embed_dim, self.patch_size**2 * self.in_chans)
        self.initialize_weights()

    # ----------------------------------------------------------------------------------------------- init
    def initialize_weights(self) -> None:
        """MAE's initialisation, in MAE's order: sin-cos tables; xavier-uniform patch embedding (as a Linear on
        the flattened weight); N(0, 0.02) class and mask tokens; xavier-uniform Linears with zero bias;
        LayerNorms 1 / 0; the patch-embedding bias keeps PyTorch's Conv2d default, as in MAE. Deterministic given
        the global torch seed."""
        with torch.no_grad():
            self.encoder.pos_embed.copy_(sincos_pos_embed(self.encoder.embed_dim, self.grid_size))
            self.decoder_pos_embed.copy_(sincos_pos_embed(self.decoder_pos_embed.shape[-1], self.grid_size))
        proj = self.encoder.patch_embed.proj.weight
        nn.init.xavier_uniform_(proj.view(proj.shape[0], -1))  # [D, C*p*p]
        nn.init.normal_(self.encoder.cls_token, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)
        self.apply(_init_module)

    # ------------------------------------------------------------------------------------------- helpers
    @property
    def num_patches(self) -> int:
        """Patches per image, ``L``."""
        return self.grid_size[0] * self.grid_size[1]

    def num_visible(self, mask_ratio: float | None = None) -> int:
        """Visible patches per image at ``mask_ratio`` (49 for ViT-Tiny/16 at 224 px and 0.75; +1 class token)."""
        ratio = self.mask_ratio if mask_ratio is None else mask_ratio
        return int(self.num_patches * (1 - ratio))

    def patchify(self, imgs: torch.Tensor) -> torch.Tensor:
        """``[N, C, H, W]`` -> ``[N, L, p*p*C]`` in MAE's ``nchpwq -> nhwpqc`` order (pixel, then channel)."""
        p = self.patch_size
        n, c, h, w = imgs.shape
        if h % p or w % p:
            raise ValueError(f"image size {h}x{w} is not a multiple of the patch size {p}")
        x = imgs.reshape(n, c, h // p, p, w // p, p)  # [N, C, gh, p, gw, p]
        x = torch.einsum("nchpwq->nhwpqc", x)  # [N, gh, gw, p, p, C]
        return x.reshape(n, (h // p) * (w // p), p * p * c)  # [N, L, p*p*C]

    def unpatchify(self, patches: torch.Tensor, grid_size: tuple[int, int] | None = None) -> torch.Tensor:
        """``[N, L, p*p*C]`` -> ``[N, C, H, W]``, the inverse of :meth:`patchify` (``grid_size`` defaults to the
        model's)."""
        p, c = self.patch_size, self.in_chans
        gh, gw = grid_size or self.grid_size
        n = patches.shape[0]
        x = patches.reshape(n, gh, gw, p, p, c)  # [N, gh, gw, p, p, C]
        x = torch.einsum("nhwpqc->nchpwq", x)  # [N, C, gh, p, gw, p]
        return x.reshape(n, c, gh * p, gw * p)  # [N, C, H, W]

    # ------------------------------------------------------------------------------------------- forward
    def forward_encoder(
        self,
        imgs: torch.Tensor,
        mask_ratio: float,
        noise: torch.Tensor | None = None,
        *,
        ids_shuffle: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encode the visible patches.

        Patches get their position embedding (without the class row), are masked per sample (keep the first
        ``int(L * (1 - mask_ratio))`` of ``argsort(noise)``; ``ids_shuffle`` overrides the noise), then the class
        token plus ``pos_embed[0]`` is prepended and the encoder's blocks and final norm run.

        Returns:
            ``(latent [N, 1+K, D], mask [N, L] (1 = removed), ids_restore [N, L], ids_shuffle [N, L])``.
        """
        latent, masking = self._encode(imgs, None, mask_ratio, noise, ids_shuffle)
        return latent, masking.mask, masking.ids_restore, masking.ids_shuffle

    def _encode(
        self,
        imgs: torch.Tensor,
        patches: torch.Tensor | None,
        mask_ratio: float,
        noise: torch.Tensor | None,
        ids_shuffle: torch.Tensor | None,
    ) -> tuple[torch.Tensor, Masking]:
        """:meth:`forward_encoder`, reusing ``patches = patchify(imgs)`` when given."""
        enc = self.encoder
        masking = make_masking(
            imgs.shape[0], self.num_patches, mask_ratio, noise, ids_shuffle=ids_shuffle, device=imgs.device
        )
        pos = enc.pos_embed[:, 1:].expand(imgs.shape[0], -1, -1)  # [N, L, D]
        if self.visible_patch_embed and self._linear_patch_embed:
            # Embedding only the visible patches is the same per-patch linear map as the convolution on the
            # whole image (stride = kernel = patch) followed by the gather, at a quarter of the cost.
            proj = enc.patch_embed.proj
            weight = proj.weight.permute(0, 2, 3, 1).reshape(proj.out_channels, -1)  # [D, p*p*C], patchify order
            patches = self.patchify(imgs) if patches is None else patches  # [N, L, p*p*C]
            x = F.linear(gather_tokens(patches, masking.ids_keep), weight, proj.bias)  # [N, K, D]
            x = x + gather_tokens(pos, masking.ids_keep)  # [N, K, D]
        else:
            x = gather_tokens(enc.patch_embed(imgs) + pos, masking.ids_keep)  # [N, K, D]
        cls = (enc.cls_token + enc.pos_embed[:, :1]).expand(x.shape[0], -1, -1)  # [N, 1, D]
        x = torch.cat([cls.to(x.dtype), x], dim=1)  # [N, 1+K, D]
        return self.forward_blocks(x), masking

    def forward_blocks(self, tokens: torch.Tensor) -> torch.Tensor:
        """The encoder's blocks and final norm over the embedded visible tokens: ``[N, 1+K, D]`` -> the latent the
        decoder reads, ``[N, 1+K, D]`` (D²-MAE's student overrides it to hand the decoder an earlier block)."""
        enc = self.encoder
        if enc.grad_checkpointing and torch.is_grad_enabled():
            tokens = checkpoint_seq(enc.blocks, tokens)
        else:
            tokens = enc.blocks(tokens)
        return enc.norm(tokens)

    def forward_decoder(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        """Predict every patch from the encoded visible tokens: ``latent [N, 1+K, D]`` -> ``pred [N, L, p*p*C]``."""
        x = self.decoder_embed(latent)  # [N, 1+K, Dd]
        batch, length = ids_restore.shape
        dim = x.shape[-1]
        mask_tokens = self.mask_token.to(x.dtype).expand(batch, length + 1 - x.shape[1], dim)  # [N, L-K, Dd]
        patches = torch.cat([x[:, 1:], mask_tokens], dim=1)  # [N, L, Dd], shuffled order
        patches = torch.gather(patches, 1, ids_restore.unsqueeze(-1).expand(-1, -1, dim))  # [N, L, Dd], patch order
        x = torch.cat([x[:, :1], patches], dim=1) + self.decoder_pos_embed  # [N, 1+L, Dd]
        for block in self.decoder_blocks:
            x = block(x)
        # The class token is dropped before the (per-token) norm and projection rather than after, as the
        # reference does: same values, without computing and back-propagating through a discarded row.
        return self.decoder_pred(self.decoder_norm(x[:, 1:]))  # [N, L, p*p*C]

    def forward_loss(self, imgs: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean over the removed patches of the per-patch MSE, computed in float32.

        With ``norm_pix_loss`` the target is each patch normalised by its mean and unbiased variance (eps 1e-6).
        ``imgs`` may also be given already patchified (``[N, L, p*p*C]``), as in MAE-Lite.
        """
        target = self.patchify(imgs) if imgs.dim() == 4 else imgs  # [N, L, p*p*C]
        target = target.float()
        if self.norm_pix_loss:
            # (x - mean) / sqrt(var_unbiased + eps) as one layer_norm: with n values per patch,
            # var_unbiased = var_biased * n / (n - 1), so the target is
            # sqrt((n - 1) / n) * (x - mean) / sqrt(var_biased + eps * (n - 1) / n).
            n = target.shape[-1]
            target = F.layer_norm(target, (n,), eps=1.0e-6 * (n - 1) / n).mul_(((n - 1) / n) ** 0.5)
        return masked_mse(pred, target, mask)

    def forward(
        self, imgs: torch.Tensor, mask_ratio: float | None = None, noise: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(loss, pred [N, L, p*p*C], mask [N, L])``; ``mask_ratio=None`` uses ``self.mask_ratio`` (0.75)."""
        ratio = self.mask_ratio if mask_ratio is None else mask_ratio
        patches = self.patchify(imgs)  # [N, L, p*p*C], shared by the patch embedding and the target
        latent, masking = self._encode(imgs, patches, ratio, noise, None)
        pred = self.forward_decoder(latent, masking.ids_restore)
        return self.forward_loss(patches, pred, masking.mask), pred, masking.mask

    # --------------------------------------------------------------------------------- optimiser helpers
    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        """Names exempt from weight decay under ``decay_rule="names"``: class/mask tokens and both position tables
        (plus 1-D params). The pre-training recipes use ``decay_rule="timm_0412"`` instead, which ignores this list
        and decays the tokens, as MAE-Lite's timm 0.4.12 optimizer does."""
        encoder = {f"encoder.{name}" for name in self.encoder.no_weight_decay()}
        return encoder | {"mask_token", "decoder_pos_embed"}

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict[str, Any]:
        """timm parameter groups: the stem (embeddings, class and mask tokens) is 0, encoder block ``k`` is
        ``k + 1`` (the encoder's final norm joins the last block, as in timm's ViT); the decoder comes last."""
        return dict(
            stem=r"^encoder\.(?:cls_token|reg_token|pos_embed|patch_embed|norm_pre)|^mask_token",
            blocks=[(r"^encoder\.blocks\.(\d+)", None), (r"^encoder\.norm", (99999,))],
        )

    def layer_ids(self) -> dict[str, int]:
        """Layer id of every parameter (``group_matcher``; decoder parameters get the last id)."""
        return parameter_layer_ids(self)

    @contextmanager
    def capture_attention(self, indices: int | list[int] | tuple[int, ...]) -> Iterator[dict[int, torch.Tensor]]:
        """Capture the encoder's pre-softmax attention logits of blocks ``indices`` (``-1`` = last) during the
        ``with`` body: ``{block: [N, heads, 1+K, 1+K]}`` (50 tokens for ViT-Tiny at 224 px and ratio 0.75)."""
        with self.encoder.capture_attention(indices) as captured:
            yield captured

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute the encoder blocks in the backward pass (less memory, ~30% more compute)."""
        self.encoder.set_grad_checkpointing(enable)


class _MaskedMSE(torch.autograd.Function):
    """``sum_n,l mask[n, l] * mean_j (pred - target)[n, l, j]^2 / sum(mask)`` with a hand-written backward.

    Three passes over the ``[N, L, P]`` tensors instead of autograd's seven: on a CPU this part of the step is
    memory-bound. The gradient, ``2 * w * (pred - target)``, is what the forward already holds.
    """

    @staticmethod
    def forward(ctx: Any, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mask = mask.float()
        diff = pred.float() - target  # [N, L, P]
        weight = mask / (mask.sum() * diff.shape[-1])  # [N, L]: 1 / (P * removed patches) where removed
        weighted = diff * weight.unsqueeze(-1)  # [N, L, P]
        ctx.pred_dtype = pred.dtype
        ctx.save_for_backward(weighted)
        if diff.device.type != "cpu":
            return (diff * weighted).sum()
        # On CPU: one dot product per ~64k values, as fast as a single dot over everything (a third of the
        # time of multiply-then-sum) without its float32 accumulation error (~1e-5 relative at batch 64).
        rows = max(1, 65536 // diff.shape[-1])
        chunks = zip(diff.reshape(-1, diff.shape[-1]).split(rows), weighted.reshape(-1, diff.shape[-1]).split(rows))
        return torch.stack([torch.dot(a.flatten(), b.flatten()) for a, b in chunks]).sum()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, None, None]:
        (weighted,) = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None, None
        return (weighted * (2.0 * grad)).to(ctx.pred_dtype), None, None  # [N, L, P]


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over patches with ``mask == 1`` of the per-patch mean squared error (float32), as MAE's loss."""
    if pred.requires_grad and torch.is_grad_enabled():
        return _MaskedMSE.apply(pred, target.detach(), mask.detach())
    per_patch = (pred.float() - target).square().mean(dim=-1)  # [N, L]
    return (per_patch * mask).sum() / mask.sum()


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


def _is_linear_patch_embed(patch_embed: nn.Module) -> bool:
    """Whether ``patch_embed`` is exactly a per-patch linear map (non-overlapping conv, no norm, NLC tokens)."""
    proj = getattr(patch_embed, "proj", None)
    return (
        isinstance(proj, nn.Conv2d)
        and proj.kernel_size == proj.stride == tuple(patch_embed.patch_size)
        and proj.padding == (0, 0)
        and proj.dilation == (1, 1)
        and proj.groups == 1
        and isinstance(getattr(patch_embed, "norm", nn.Identity()), nn.Identity)
        and getattr(patch_embed, "flatten", False)
        and not getattr(patch_embed, "dynamic_img_pad", False)
    )


def _check_encoder(encoder: nn.Module) -> None:
    """Refuse encoders the MAE forward cannot run exactly (it re-implements the encoder's token pipeline)."""
    problems = []
    if getattr(encoder, "cls_token", None) is None:
        problems.append("no class token (class_token=True)")
    if getattr(encoder, "pos_embed", None) is None or getattr(encoder, "no_embed_class", False):
        problems.append("no absolute position table that includes the class row")
    if getattr(encoder, "num_prefix_tokens", 1) != 1:
        problems.append("register/distillation tokens")
    if isinstance(getattr(encoder, "norm", nn.Identity()), nn.Identity):
        problems.append("no final norm (build it with global_pool='token' and fc_norm=False)")
    if not isinstance(getattr(encoder, "norm_pre", nn.Identity()), nn.Identity):
        problems.append("a pre-norm (norm_pre)")
    if getattr(encoder, "dynamic_img_size", False):
        problems.append("dynamic_img_size (the image size is fixed by the encoder)")
    if problems:
        raise ValueError(f"unsupported MAE encoder {type(encoder).__name__}: " + "; ".join(problems))


# ----------------------------------------------------------------------------------------------- factories
def mae_encoder(
    encoder_name: str, *, img_size: int | tuple[int, int], drop_path_rate: float = 0.0, **encoder_kwargs: Any
) -> nn.Module:
    """The headless encoder an MAE wraps: ``timm.create_model(encoder_name, num_classes=0, global_pool="token",
    fc_norm=False, img_size=img_size, ...)``."""
    return create_backbone(
        encoder_name,
        img_size=img_size,
        num_classes=0,
        global_pool="token",
        fc_norm=False,
        drop_path_rate=drop_path_rate,
        **encoder_kwargs,
    )


def build_mae(
    encoder_name: str = "vislite_vit_tiny",
    *,
    img_size: int | tuple[int, int] = 224,
    decoder_embed_dim: int = 96,
    decoder_depth: int = 1,
    decoder_num_heads: int = 3,
    mlp_ratio: float = 4.0,
    mask_ratio: float = 0.75,
    norm_pix_loss: bool = True,
    drop_path_rate: float = 0.0,
    **encoder_kwargs: Any,
) -> MaskedAutoencoderViT:
    """MAE over a registered vislite ViT (:func:`mae_encoder`); further keyword arguments go to the encoder."""
    return MaskedAutoencoderViT(
        encoder=mae_encoder(encoder_name, img_size=img_size, drop_path_rate=drop_path_rate, **encoder_kwargs),
        decoder_embed_dim=decoder_embed_dim,
        decoder_depth=decoder_depth,
        decoder_num_heads=decoder_num_heads,
        mlp_ratio=mlp_ratio,
        mask_ratio=mask_ratio,
        norm_pix_loss=norm_pix_loss,
    )


def mae_vit_tiny_patch16(**kwargs: Any) -> MaskedAutoencoderViT:
    """MAE-Lite ViT-Tiny/16: encoder 192 wide, 12 blocks, 12 heads; decoder 96 wide, 1 block, 3 heads
    (5,748,480 parameters, 5,691,744 trainable). ``img_size`` (default 224) and other :func:`build_mae`
    arguments may be overridden."""
    return build_mae("vislite_vit_tiny", **kwargs)


def mae_vit_small_patch16(**kwargs: Any) -> MaskedAutoencoderViT:
    """MAE-Lite ViT-Small/16: encoder 384 wide, 12 blocks, 12 heads; decoder 192 wide, 1 block, 6 heads."""
    return build_mae("vislite_vit_small", **{"decoder_embed_dim": 192, "decoder_num_heads": 6, **kwargs})


def mae_vit_base_patch16(**kwargs: Any) -> MaskedAutoencoderViT:
    """MAE ViT-Base/16, the distillation teacher: encoder 768 wide, 12 blocks, 12 heads; decoder 512 wide,
    8 blocks, 16 heads (111,907,840 parameters)."""
    args = {"decoder_embed_dim": 512, "decoder_depth": 8, "decoder_num_heads": 16}
    return build_mae("vislite_vit_base", **{**args, **kwargs})


def mae_test_vit(**kwargs: Any) -> MaskedAutoencoderViT:
    """A tiny MAE for tests: ``test_vislite_vit`` encoder (32 px, patch 8, 16 patches, width 32, 4 blocks,
    4 heads); decoder 32 wide, 1 block, 2 heads."""
    args = {"img_size": 32, "decoder_embed_dim": 32, "decoder_num_heads": 2}
    return build_mae("test_vislite_vit", **{**args, **kwargs})


MAE_MODELS: dict[str, Callable[..., MaskedAutoencoderViT]] = {
    "mae_vit_tiny_patch16": mae_vit_tiny_patch16,
    "mae_vit_small_patch16": mae_vit_small_patch16,
    "mae_vit_base_patch16": mae_vit_base_patch16,
    "mae_test_vit": mae_test_vit,
}


def create_mae(name: str, **kwargs: Any) -> MaskedAutoencoderViT:
    """Build a model of :data:`MAE_MODELS` by name (``create_mae("mae_vit_tiny_patch16", img_size=96)``)."""
    return create_named(MAE_MODELS, name, "MAE", **kwargs)
