"""One-stream ViT over template and search tokens (OSTrack's ``VisionTransformerCE``), built from a timm ViT."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from vislite_tracking.ostrack.model.blocks import CEBlock
from vislite_tracking.ostrack.model.elimination import restore_search_order, template_centre_mask
from vislite_tracking.ostrack.model.pos_embed import patch_table, resize_table


class OneStreamViT(nn.Module):
    """Template and search patches share the patch embedding and all blocks; no class token.

    Built from a (pre-trained) timm ViT: its patch embedding and blocks are taken over, and the separate
    ``pos_embed_z`` (template grid) and ``pos_embed_x`` (search grid) are bicubically resized from its patch
    position table (14x14 for a 224 px ViT). Candidate elimination runs at the blocks in ``ce_loc``.

    ``forward(template [B,3,Hz,Wz], search [B,3,Hx,Wx])`` returns the search tokens ``[B, Ls, C]`` after the
    final LayerNorm, in their original order (eliminated tokens are zero).
    """

    def __init__(
        self,
        *,
        vit: VisionTransformer,
        template_size: int = 128,
        search_size: int = 256,
        ce_loc: Sequence[int] = (3, 6, 9),
        ce_keep_ratio: Sequence[float] = (0.7, 0.7, 0.7),
    ) -> None:
        super().__init__()
        patch = int(vit.patch_embed.patch_size[0])
        if template_size % patch or search_size % patch:
            raise ValueError(
                f"template_size {template_size} and search_size {search_size} must be multiples of "
                f"the patch size {patch}"
            )
        if len(ce_loc) != len(ce_keep_ratio):
            raise ValueError(f"ce_loc {list(ce_loc)} and ce_keep_ratio {list(ce_keep_ratio)} differ in length")
        if any(not 0 <= i < len(vit.blocks) for i in ce_loc):
            raise ValueError(f"ce_loc {list(ce_loc)} names blocks outside 0..{len(vit.blocks) - 1}")
        self.patch_size, self.embed_dim = patch, int(vit.embed_dim)
        self.template_grid, self.search_grid = template_size // patch, search_size // patch
        self.patch_embed, self.norm_pre = vit.patch_embed, vit.norm_pre
        prefix = 0 if getattr(vit, "no_embed_class", False) else int(vit.num_prefix_tokens)
        table = patch_table(vit.pos_embed.detach(), prefix)  # [1, C, 14, 14]
        self.pos_embed_z = nn.Parameter(resize_table(table, self.template_grid))  # [1, Lz, C]
        self.pos_embed_x = nn.Parameter(resize_table(table, self.search_grid))  # [1, Lx, C]
        ratios = dict(zip(ce_loc, ce_keep_ratio))
        self.ce_loc = tuple(int(i) for i in ce_loc)
        self.blocks = nn.ModuleList(CEBlock(block=b, keep_ratio=ratios.get(i, 1.0)) for i, b in enumerate(vit.blocks))
        self.norm = vit.norm if not isinstance(vit.norm, nn.Identity) else vit.fc_norm
        if isinstance(self.norm, nn.Identity):
            raise ValueError("the ViT has neither a final norm nor fc_norm; build it with a final LayerNorm")

    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        return {"pos_embed_z", "pos_embed_x"}

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Patch tokens ``[B, h*w, C]`` of images ``[B, 3, H, W]`` (any multiple of the patch size)."""
        x = self.patch_embed.proj(images)  # [B, C, h, w]
        return self.patch_embed.norm(x.flatten(2).transpose(1, 2))  # [B, h*w, C]

    def embed_template(self, template: torch.Tensor) -> torch.Tensor:
        """Template tokens with their positions ``[B, Lz, C]``: they depend on the template only, so a tracker
        computes them once."""
        return self.embed(template) + self.pos_embed_z

    def forward(
        self,
        template: torch.Tensor,
        search: torch.Tensor,
        *,
        template_mask: torch.Tensor | None = None,
        keep_rate: float | None = None,
    ) -> torch.Tensor:
        """Search tokens ``[B, Ls, C]``; ``template_mask`` ``[B, Lz]`` picks the ranking queries (default: the
        template centre token); ``keep_rate`` overrides the CE blocks' ratio (training warm-up)."""
        return self.forward_tokens(
            self.embed_template(template), search, template_mask=template_mask, keep_rate=keep_rate
        )

    def forward_tokens(
        self,
        z: torch.Tensor,
        search: torch.Tensor,
        *,
        template_mask: torch.Tensor | None = None,
        keep_rate: float | None = None,
        search_only_tail: bool = False,
    ) -> torch.Tensor:
        """:meth:`forward` from template tokens ``z`` ``[B, Lz, C]`` (:meth:`embed_template`).

        ``search_only_tail`` (inference): the last block computes the search tokens' outputs only
        (:meth:`CEBlock.forward_search`; the template outputs are discarded anyway), unless it eliminates.
        """
        x = self.embed(search) + self.pos_embed_x  # [B, Lx, C]
        batch, lz, lx = x.shape[0], z.shape[1], x.shape[1]
        if template_mask is None:
            template_mask = template_centre_mask(batch, self.template_grid, x.device)
        tokens = self.norm_pre(torch.cat([z, x], dim=1))  # [B, Lz + Lx, C]
        index = torch.arange(lx, device=x.device).expand(batch, lx)  # [B, Lx] original search positions
        removed: list[torch.Tensor] = []
        blocks = list(self.blocks)
        tail = blocks.pop() if search_only_tail and not blocks[-1].eliminates else None
        for block in blocks:
            tokens, index, gone = block(tokens, lz, index, template_mask, keep_rate if block.eliminates else None)
            if gone is not None:
                removed.append(gone)
        if tail is not None:
            return restore_search_order(self.norm(tail.forward_search(tokens, lz)), index, removed, lx)
        tokens = self.norm(tokens)
        return restore_search_order(tokens[:, lz:], index, removed, lx)  # [B, Lx, C]
