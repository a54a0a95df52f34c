"""A timm ViT block run over template + search tokens, with optional candidate elimination after attention."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.models.vision_transformer import Block
from torch import nn

from vislite_tracking.ostrack.model.elimination import eliminate, keep_count


class CEBlock(nn.Module):
    """A timm :class:`~timm.models.vision_transformer.Block`'s parts under their timm names (``norm1``, ``attn``,
    ``ls1``, ``drop_path1``, ``norm2``, ``mlp``, ``ls2``, ``drop_path2``), so checkpoint keys match timm and OSTrack.

    The block's output is the timm block's; at a CE block (``keep_ratio < 1``) the search tokens are pruned
    between the attention and the MLP residuals, ranked by the attention probability they receive from the
    template query tokens selected by ``template_mask``, averaged over those queries and the heads (OSTrack's
    ``CEBlock`` / ``candidate_elimination``). Attention itself runs through fused SDPA; only the few template
    query rows needed for the ranking are computed explicitly.
    """

    def __init__(self, *, block: Block, keep_ratio: float = 1.0) -> None:
        super().__init__()
        if not 0.0 < keep_ratio <= 1.0:
            raise ValueError(f"keep_ratio must be in (0, 1], got {keep_ratio}")
        self.norm1, self.attn, self.ls1, self.drop_path1 = block.norm1, block.attn, block.ls1, block.drop_path1
        self.norm2, self.mlp, self.ls2, self.drop_path2 = block.norm2, block.mlp, block.ls2, block.drop_path2
        self.keep_ratio = float(keep_ratio)

    @property
    def eliminates(self) -> bool:
        """Whether this block can prune search tokens."""
        return self.keep_ratio < 1.0

    def _attention(
        self, x: torch.Tensor, rank_queries: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Self-attention output ``[B, N, C]`` and, if ``rank_queries`` (``[B, Lt]`` bool) is given, the attention
        probabilities ``[B, N]`` averaged over those template queries and the heads."""
        attn = self.attn
        batch, tokens, _ = x.shape
        qkv = attn.qkv(x).reshape(batch, tokens, 3, attn.num_heads, attn.head_dim)  # [B, N, 3, H, d]
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x [B, H, N, d]
        q, k = attn.q_norm(q), attn.k_norm(k)
        drop = attn.attn_drop.p if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)  # [B, H, N, d]
        out = out.transpose(1, 2).reshape(batch, tokens, -1)  # [B, N, H*d]
        out = attn.proj_drop(attn.proj(attn.norm(out)))
        if rank_queries is None:
            return out, None
        per_sample = int(rank_queries[0].sum())
        if per_sample == 0 or bool((rank_queries.sum(1) != per_sample).any()):
            raise ValueError("template_mask must select the same, non-zero number of template tokens per sample")
        lt = rank_queries.shape[1]
        rows = rank_queries.nonzero()[:, 1].view(batch, per_sample)  # [B, k]
        q_sel = q[:, :, :lt].gather(2, rows[:, None, :, None].expand(-1, q.shape[1], -1, q.shape[-1]))  # [B,H,k,d]
        probs = ((q_sel * attn.scale) @ k.transpose(-2, -1)).softmax(dim=-1)  # [B, H, k, N]
        return out, probs.mean(dim=2).mean(dim=1)  # [B, N]

    def forward_search(self, x: torch.Tensor, num_template: int) -> torch.Tensor:
        """Inference: the block's output for the search tokens only, ``[B, N - Lt, C]`` from ``x`` ``[B, N, C]``.

        For a last block, whose template outputs are never used: the template tokens still serve as keys and
        values, but their queries, projection and MLP are skipped. No elimination (the caller checks
        :attr:`eliminates`); equal to ``forward(x, ...)[0][:, num_template:]`` up to float rounding.
        """
        attn = self.attn
        batch, tokens, _ = x.shape
        qkv = attn.qkv(self.norm1(x)).reshape(batch, tokens, 3, attn.num_heads, attn.head_dim)  # [B, N, 3, H, d]
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x [B, H, N, d]
        q, k = attn.q_norm(q[:, :, num_template:]), attn.k_norm(k)  # queries of the search tokens only
        out = F.scaled_dot_product_attention(q, k, v)  # [B, H, Ls, d]
        out = out.transpose(1, 2).reshape(batch, tokens - num_template, -1)  # [B, Ls, H*d]
        x = x[:, num_template:] + self.drop_path1(self.ls1(attn.proj_drop(attn.proj(attn.norm(out)))))
        return x + self.drop_path2(self.ls2(self.mlp(self.norm2(x))))

    def forward(
        self,
        x: torch.Tensor,
        num_template: int,
        global_index: torch.Tensor,
        template_mask: torch.Tensor | None,
        keep_rate: float | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Run the block; returns ``(tokens, kept search index [B, K'], removed search index or None)``.

        ``keep_rate`` overrides the block's ratio during training's CE warm-up (1.0 disables elimination).
        """
        rate = self.keep_ratio if keep_rate is None else float(keep_rate)
        num_search = x.shape[1] - num_template
        prune = self.eliminates and rate < 1.0 and keep_count(rate, num_search) < num_search
        queries = None
        if prune:  # no mask: every template token ranks (OSTrack's CE_TEMPLATE_RANGE 'ALL')
            queries = template_mask if template_mask is not None else x.new_ones(x.shape[0], num_template).bool()
        attn_out, scores = self._attention(self.norm1(x), queries)
        x = x + self.drop_path1(self.ls1(attn_out))
        removed = None
        if prune:
            keep = keep_count(rate, num_search)
            x, global_index, removed = eliminate(x, scores[:, num_template:], global_index, num_template, keep)
        x = x + self.drop_path2(self.ls2(self.mlp(self.norm2(x))))
        return x, global_index, removed
