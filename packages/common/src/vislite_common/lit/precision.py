"""``precision="auto"``: the fastest mixed precision the device runs well, 32-bit otherwise.

On GPUs: bf16-mixed where supported, 16-mixed on older ones. On CPUs: bf16-mixed only with AMX tiles. On a CPU
with AVX512-BF16 but no AMX, bf16 matrix multiplies measured 3.5x slower than fp32 ones (2-core Xeon, torch
2.14.1, ``nn.Linear`` 3200x192 -> 768) and MAE-lite training steps 30% slower, so ``auto`` stays in fp32 there;
``trainer.precision=bf16-mixed`` still asks for bf16 explicitly.
"""

from __future__ import annotations

import torch

_AUTO = "auto"


def cpu_supports_bf16() -> bool:
    """True when oneDNN reports native bf16 support on this CPU (AVX512-BF16 / AMX / AVX512 with bf16 emulation)."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def cpu_has_fast_bf16() -> bool:
    """True when the CPU multiplies bf16 matrices faster than fp32 ones: AMX tiles and oneDNN bf16 support."""
    try:
        return bool(torch.cpu._is_amx_tile_supported()) and cpu_supports_bf16()
    except AttributeError:
        return False


def resolve_precision(precision: str | int | None, accelerator: str | None = "auto") -> str:
    """Turn ``"auto"`` into a Lightning precision string; other values pass through unchanged (as strings).

    ``accelerator`` is the Trainer's accelerator: ``"cpu"``, ``"gpu"``/``"cuda"`` or ``"auto"`` (CUDA when present).
    """
    if precision is None:
        return "32-true"
    if str(precision) != _AUTO:
        return str(precision)
    use_cuda = accelerator in ("gpu", "cuda") or (accelerator in (None, "auto") and torch.cuda.is_available())
    if use_cuda:
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "bf16-mixed" if cpu_has_fast_bf16() else "32-true"
