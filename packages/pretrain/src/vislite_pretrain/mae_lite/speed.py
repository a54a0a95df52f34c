"""Speed options for MAE-lite training, CPU first. Exact fp32 stays the default everywhere.

Measured on a 2-core AVX-512 Xeon without AMX, ViT-Tiny at 224 px, batch 64 (``benchmarks/pretrain_throughput.py``;
the model itself -- visible-only patch embedding, fused norm-pix loss, no decoder head on the class token --
accounts for most of vislite's ~1.4x over the plain reference):

* :func:`tune_cpu_allocator` (+10-15 %): glibc hands the step's large activations (> 32 MiB) back to the kernel
  and gets them back zero-filled page by page on the next step; keeping freed memory in the heap avoids that.
* a fused optimizer step, ``torch.optim.AdamW(..., **optimizer_speed_kwargs(params))`` (a few %): on CPU
  PyTorch otherwise updates the parameters one tensor at a time.
* :func:`set_attention_impl` -- on CPU the explicit ``softmax(q k^T) v`` is ~25 % faster than the fused flash
  kernel for the encoder's 50 tokens, and 2-8x faster under bf16; ``"auto"`` picks per block and precision.
* bf16 autocast (:func:`precision_context`) pays off only where the CPU multiplies bf16 faster than fp32 (AMX).
  With AVX-512 BF16 alone a bf16 matmul runs at ~0.55x the fp32 speed (160 vs 290 GFLOP/s on 2 cores), so the
  whole step is ~30 % slower than fp32; it stays opt-in.
* ``torch.compile`` (inductor) was slower (83 vs 89 img/s) after ~170 s of compilation; it is left to the caller.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import sys
from typing import Any, Literal

import torch
from torch import nn

AttentionImpl = Literal["fused", "explicit", "auto"]
PRECISIONS = {"32": None, "32-true": None, "fp32": None, "bf16": torch.bfloat16, "bf16-mixed": torch.bfloat16}

AUTO_FUSED_MIN_TOKENS = 128
"""``"auto"`` attention: sequences at least this long use the fused kernel on CPU (the decoder's 197 tokens),
shorter ones the explicit product (the encoder's 50 visible tokens). On CUDA the fused kernel is always used."""

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4


def set_attention_impl(
    model: nn.Module, impl: AttentionImpl = "auto", *, device: str = "cpu", precision: str = "32"
) -> nn.Module:
    """Choose, for every timm ``Attention`` in ``model``, fused SDPA (``"fused"``) or ``softmax(q k^T) v``
    (``"explicit"``). The two compute the same function; returns ``model``.

    ``"auto"`` follows measurements on CPU: fused on CUDA; on CPU under bf16 autocast explicit everywhere
    (PyTorch's CPU flash kernel is 2-8x slower in bf16); on CPU in fp32 explicit for short sequences (the
    encoder's 50 visible tokens: ~25 % faster per block) and fused from :data:`AUTO_FUSED_MIN_TOKENS` tokens on
    (the decoder's 197). Sequence lengths are known for :class:`MaskedAutoencoderViT` blocks; other attention
    modules get the fused kernel. vislite's logit capture (``capture_attention``) is unaffected.
    """
    if impl not in ("fused", "explicit", "auto"):
        raise ValueError(f"attention impl must be 'fused', 'explicit' or 'auto', got {impl!r}")
    low_precision = PRECISIONS[precision] is not None if precision in PRECISIONS else True
    tokens = _sequence_lengths(model)
    for name, module in model.named_modules():
        if not hasattr(module, "fused_attn"):
            continue
        if impl != "auto":
            module.fused_attn = impl == "fused"
        elif device != "cpu":
            module.fused_attn = True
        elif low_precision:
            module.fused_attn = False
        else:
            module.fused_attn = tokens.get(name, AUTO_FUSED_MIN_TOKENS) >= AUTO_FUSED_MIN_TOKENS
    return model


def _sequence_lengths(model: nn.Module) -> dict[str, int]:
    """Tokens seen by each attention module of an MAE-lite model (``{}`` for other models)."""
    mae = getattr(model, "_orig_mod", model)
    if not hasattr(mae, "decoder_blocks") or not hasattr(mae, "encoder"):
        return {}
    prefix = "_orig_mod." if mae is not model else ""
    lengths = {f"{prefix}encoder.blocks.{i}.attn": 1 + mae.num_visible() for i in range(len(mae.encoder.blocks))}
    lengths.update({f"{prefix}decoder_blocks.{i}.attn": 1 + mae.num_patches for i in range(len(mae.decoder_blocks))})
    return lengths


def precision_context(precision: str = "32", device_type: str = "cpu") -> contextlib.AbstractContextManager:
    """``"32"`` / ``"32-true"``: exact fp32 (a null context); ``"bf16"`` / ``"bf16-mixed"``: bf16 autocast.

    The MAE's loss is always computed in fp32 (``forward_loss`` upcasts).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
    dtype = PRECISIONS[precision]
    return contextlib.nullcontext() if dtype is None else torch.autocast(device_type, dtype=dtype)


def tune_cpu_allocator(trim_threshold: int = 1 << 30) -> bool:
    """Keep freed memory in glibc's heap instead of returning it to the kernel (no ``mmap``; trim above
    ``trim_threshold`` bytes only). Large activations are then reused across steps instead of being page-faulted
    back in zero-filled. Process-wide and irreversible; returns ``False`` where it does not apply (not glibc)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, trim_threshold))
    except (OSError, AttributeError):
        return False


def optimizer_speed_kwargs(params: list[torch.Tensor] | None = None) -> dict[str, Any]:
    """Extra keyword arguments for ``torch.optim.AdamW``/``Adam``: ``fused=True`` when every parameter is on a
    device with a fused kernel (CPU and CUDA in PyTorch >= 2.4), else ``{}``."""
    devices = {p.device.type for p in params} if params else {"cpu"}
    return {"fused": True} if devices <= {"cpu", "cuda"} else {}
