"""The MAE-lite masked autoencoder: a vislite ViT encoder on visible patches and a light decoder.

MAE-Lite recipe: ViT-Tiny encoder (12 heads) with fixed sin-cos position embeddings, decoder width 96,
depth 1, 3 heads, mask ratio 0.75, MSE on masked patches against per-patch normalised pixels.
"""

from __future__ import annotations

from functools import partial

import timm
import torch
from timm.models.vision_transformer import Block
from torch import nn

import vislite_common  # noqa: F401  (registers the vislite backbones)
from vislite_common.backbones import VisionTransformer
from vislite_pretrain.mae_lite.masking import random_masking
from vislite_pretrain.mae_lite.pos_embed import sincos_2d

LayerNorm6 = partial(nn.LayerNorm, eps=1e-6)


class MaskedAutoencoderViT(nn.Module):
    """``forward(imgs, mask_ratio=0.75, noise=None) -> (loss, pred, mask)``, as the reference MAE.

    ``encoder`` is a vislite ViT with a class token and a final ``norm`` (``global_pool="token"``,
    ``num_classes=0``); its parameter names are those of a plain timm ViT, so it exports as one.
    """

    def __init__(
        self,
        *,
        encoder: VisionTransformer,
        decoder_embed_dim: int = 96,
        decoder_depth: int = 1,
        decoder_num_heads: int = 3,
        mlp_ratio: float = 4.0,
        norm_pix_loss: bool = True,
        mask_ratio: float = 0.75,
    ) -> None:
        super().__init__()
        if encoder.cls_token is None or isinstance(encoder.norm, nn.Identity):
            raise ValueError("the MAE encoder needs a class token and a final norm: build it with global_pool='token'")
        self.encoder = encoder
        self.mask_ratio = mask_ratio
        self.norm_pix_loss = norm_pix_loss
        self.patch_size = encoder.patch_embed.patch_size[0]
        grid = tuple(encoder.patch_embed.grid_size)
        num_patches = grid[0] * grid[1]
        encoder.pos_embed.requires_grad_(False)  # fixed sin-cos

        self.decoder_embed = nn.Linear(encoder.embed_dim, decoder_embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dim))
        self.decoder_pos_embed = nn.Parameter(torch.zeros(1, num_patches + 1, decoder_embed_dim), requires_grad=False)
        self.decoder_blocks = nn.ModuleList(
            Block(decoder_embed_dim, decoder_num_heads, mlp_ratio, qkv_bias=True, norm_layer=LayerNorm6)
            for _ in range(decoder_depth)
        )
        self.decoder_norm = LayerNorm6(decoder_embed_dim)
        self.decoder_pred = nn.Linear(decoder_embed_dim, self.patch_size**2 * 3)
        self._init_weights(grid)

    def _init_weights(self, grid: tuple[int, int]) -> None:
        """MAE initialisation: sin-cos tables, xavier-uniform linears (patch embedding too), N(0, .02) tokens."""
        with torch.no_grad():
            self.encoder.pos_embed.copy_(sincos_2d(self.encoder.embed_dim, grid))
            self.decoder_pos_embed.copy_(sincos_2d(self.decoder_pos_embed.shape[-1], grid))
        proj = self.encoder.patch_embed.proj.weight
        nn.init.xavier_uniform_(proj.view(proj.shape[0], -1))
        nn.init.normal_(self.encoder.cls_token, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        return {"encoder.cls_token", "encoder.pos_embed", "mask_token", "decoder_pos_embed"}

    def patchify(self, imgs: torch.Tensor) -> torch.Tensor:
        """``[N, 3, H, W]`` -> ``[N, L, p*p*3]`` (MAE's ``nchpwq -> nhwpqc`` order)."""
        p = self.patch_size
        n, c, h, w = imgs.shape
        if h % p or w % p:
            raise ValueError(f"image size {h}x{w} is not a multiple of the patch size {p}")
        x = imgs.reshape(n, c, h // p, p, w // p, p)
        x = torch.einsum("nchpwq->nhwpqc", x)
        return x.reshape(n, (h // p) * (w // p), p * p * c)

    def unpatchify(self, patches: torch.Tensor, grid: tuple[int, int] | None = None) -> torch.Tensor:
        """``[N, L, p*p*3]`` -> ``[N, 3, H, W]`` (inverse of :meth:`patchify`)."""
        p = self.patch_size
        gh, gw = grid or tuple(self.encoder.patch_embed.grid_size)
        x = patches.reshape(patches.shape[0], gh, gw, p, p, 3)
        x = torch.einsum("nhwpqc->nchpwq", x)
        return x.reshape(patches.shape[0], 3, gh * p, gw * p)

    def forward_encoder(
        self, imgs: torch.Tensor, mask_ratio: float, noise: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encode the visible patches: ``(latent [N, 1+K, D], mask [N, L], ids_restore, ids_shuffle)``."""
        enc = self.encoder
        x = enc.patch_embed(imgs) + enc.pos_embed[:, 1:]  # [N, L, D]
        x, mask, ids_restore, ids_shuffle = random_masking(x, mask_ratio, noise)
        cls = (enc.cls_token + enc.pos_embed[:, :1]).expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1)  # [N, 1+K, D]
        x = enc.norm(enc.blocks(x))
        return x, mask, ids_restore, ids_shuffle

    def forward_decoder(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        """Predict the pixels of every patch: ``[N, L, p*p*3]``."""
        x = self.decoder_embed(latent)  # [N, 1+K, Dd]
        batch, length = ids_restore.shape
        masked = self.mask_token.expand(batch, length + 1 - x.shape[1], -1)
        patches = torch.cat([x[:, 1:], masked], dim=1)  # [N, L, Dd] in shuffled order
        patches = torch.gather(patches, 1, ids_restore[..., None].expand(-1, -1, x.shape[2]))  # patch order
        x = torch.cat([x[:, :1], patches], dim=1) + self.decoder_pos_embed
        for block in self.decoder_blocks:
            x = block(x)
        return self.decoder_pred(self.decoder_norm(x))[:, 1:]  # drop the class token

    def forward_loss(self, imgs: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean squared error over the masked patches (per-patch normalised targets with ``norm_pix_loss``)."""
        target = self.patchify(imgs)
        if self.norm_pix_loss:
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)  # unbiased, as the reference
            target = (target - mean) / (var + 1.0e-6) ** 0.5
        per_patch = ((pred.float() - target) ** 2).mean(dim=-1)  # [N, L]
        return (per_patch * mask).sum() / mask.sum()

    def forward(
        self, imgs: torch.Tensor, mask_ratio: float | None = None, noise: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        ratio = self.mask_ratio if mask_ratio is None else mask_ratio
        latent, mask, ids_restore, _ = self.forward_encoder(imgs, ratio, noise)
        pred = self.forward_decoder(latent, ids_restore)
        return self.forward_loss(imgs, pred, mask), pred, mask


def build_mae(
    encoder_name: str = "vislite_vit_tiny",
    *,
    img_size: int = 224,
    decoder_embed_dim: int = 96,
    decoder_depth: int = 1,
    decoder_num_heads: int = 3,
    mask_ratio: float = 0.75,
    norm_pix_loss: bool = True,
    drop_path_rate: float = 0.0,
) -> MaskedAutoencoderViT:
    """MAE over a registered vislite ViT (``vislite_vit_tiny`` = MAE-Lite's ``mae_vit_tiny_patch16``)."""
    encoder = timm.create_model(
        encoder_name, img_size=img_size, num_classes=0, global_pool="token", fc_norm=False,
        drop_path_rate=drop_path_rate,
    )
    return MaskedAutoencoderViT(
        encoder=encoder,
        decoder_embed_dim=decoder_embed_dim,
        decoder_depth=decoder_depth,
        decoder_num_heads=decoder_num_heads,
        mask_ratio=mask_ratio,
        norm_pix_loss=norm_pix_loss,
    )


def mae_vit_tiny_patch16(**kwargs) -> MaskedAutoencoderViT:
    """MAE-Lite ViT-Tiny: encoder 192/12/12 heads, decoder 96/1/3 heads."""
    return build_mae("vislite_vit_tiny", **kwargs)


def mae_vit_small_patch16(**kwargs) -> MaskedAutoencoderViT:
    """MAE-Lite ViT-Small: encoder 384/12/12 heads, decoder 192/1/6 heads."""
    return build_mae("vislite_vit_small", **{"decoder_embed_dim": 192, "decoder_num_heads": 6, **kwargs})
