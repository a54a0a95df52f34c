"""Frozen visual-language teachers: open_clip from a local checkpoint, and the interface any teacher follows."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from vislite_common.lit.frozen import FrozenModule
from vislite_detection.hierkd.logits import l2_normalise


class VisionLanguageTeacher(FrozenModule):
    """A frozen image/text embedder: ``encode_image`` (n, 3, 224, 224) → (n, D), ``encode_text`` (list) → (n, D).

    Subclasses implement ``_encode_image`` / ``_encode_text``; this class adds no-grad evaluation, dtype
    handling, a per-prompt-set cache of normalised text embeddings (:meth:`text_embeddings`) and, as a
    :class:`~vislite_common.lit.frozen.FrozenModule`, frozen parts (assigned modules never require grad) and a
    ``train()`` that keeps it in evaluation mode. HierKD holds it outside its submodules, so it is in no checkpoint.
    """

    width: int

    def __init__(self) -> None:
        super().__init__()
        self._text_cache: dict[tuple[str, ...], Tensor] = {}

    def _param_dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def _encode_image(self, images: Tensor) -> Tensor:
        raise NotImplementedError

    def _encode_text(self, texts: list[str]) -> Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def encode_image(self, images: Tensor) -> Tensor:
        """(n, 3, 224, 224) crops → (n, D) embeddings (not normalised), in the input's dtype."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"encode_image expects (n, 3, H, W) images, got {tuple(images.shape)}")
        return self._encode_image(images.to(self._device(), self._param_dtype())).to(images.dtype)

    @torch.no_grad()
    def encode_text(self, texts: list[str]) -> Tensor:
        """Texts → (n, D) embeddings (not normalised)."""
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise TypeError("encode_text expects a list of strings")
        return self._encode_text(list(texts))

    def text_embeddings(self, texts: list[str]) -> Tensor:
        """Normalised embeddings (n, D) of ``texts``, computed once per distinct list (the teacher is frozen)."""
        key = tuple(texts)
        if key not in self._text_cache:
            self._text_cache[key] = l2_normalise(self.encode_text(list(texts)).float()).cpu()
        return self._text_cache[key]


def _state_dict_of(obj: Any, path: Path) -> dict[str, Tensor]:
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "module"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise ValueError(f"{path}: expected an open_clip state dict (name -> tensor)")
    return {k.removeprefix("module."): v for k, v in obj.items()}


class OpenClipTeacher(VisionLanguageTeacher):
    """An open_clip CLIP built from a **local** checkpoint (nothing downloads), frozen in evaluation mode.

    ``model_name`` picks open_clip's architecture config (``"ViT-B-32"`` for HierKD; OpenAI weights converted to
    open_clip's layout need ``quick_gelu=True``); ``model_cfg`` (``embed_dim``, ``vision_cfg``, ``text_cfg``)
    overrides it, e.g. for a tiny model. A checkpoint of another architecture raises ``ValueError`` naming the
    file and the mismatching keys.
    """

    def __init__(
        self,
        *,
        checkpoint: str | os.PathLike,
        model_name: str = "ViT-B-32",
        model_cfg: dict[str, Any] | None = None,
        quick_gelu: bool = False,
    ) -> None:
        super().__init__()
        import open_clip

        path = Path(checkpoint)
        if not path.is_file():
            raise FileNotFoundError(f"CLIP teacher checkpoint {path} not found (set teacher.checkpoint=/path/to/file)")
        cfg = dict(model_cfg) if model_cfg is not None else open_clip.get_model_config(model_name)
        if cfg is None:
            raise ValueError(f"unknown open_clip model {model_name!r}")
        model = open_clip.CLIP(
            embed_dim=cfg["embed_dim"], vision_cfg=cfg["vision_cfg"], text_cfg=cfg["text_cfg"], quick_gelu=quick_gelu
        )
        state = _state_dict_of(torch.load(path, map_location="cpu", weights_only=True), path)
        own = model.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
        if missing or unexpected or wrong:
            detail = "; ".join(
                f"{label}: {', '.join(keys[:4])}{' ...' if len(keys) > 4 else ''}"
                for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
                if keys
            )
            raise ValueError(f"{path} is not a checkpoint of the {model_name} architecture ({detail})")
        model.load_state_dict(state)
        self.model = model  # frozen on assignment
        self.width = int(cfg["embed_dim"])
        self.tokenizer = open_clip.SimpleTokenizer(context_length=int(cfg["text_cfg"].get("context_length", 77)))

    def _encode_image(self, images: Tensor) -> Tensor:
        return self.model.encode_image(images)

    def _encode_text(self, texts: list[str]) -> Tensor:
        return self.model.encode_text(self.tokenizer(texts).to(self._device()))
