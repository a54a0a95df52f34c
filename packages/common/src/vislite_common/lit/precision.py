"""``precision="auto"``: bf16-mixed where the device supports bf16, 16-mixed on older GPUs, 32 otherwise."""

from __future__ import annotations

import torch

_AUTO = "auto"


def cpu_supports_bf16() -> bool:
    """True when oneDNN reports native bf16 support on this CPU (AVX512-BF16 / AMX / AVX512 with bf16 emulation)."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
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
    return "bf16-mixed" if cpu_supports_bf16() else "32-true"
