"""Gathering per-image results from every rank (torch.distributed), duplicates from padded shards removed."""

from __future__ import annotations

from typing import Any

import torch.distributed as dist


def gather_per_image(local: dict[int, list[dict[str, Any]]]) -> dict[int, list[dict[str, Any]]]:
    """``{image_id: results}`` merged over all ranks (the first rank's copy wins for an image seen twice).

    Without an initialised process group, or with one process, ``local`` is returned as is.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return local
    gathered: list[dict[int, list[dict[str, Any]]] | None] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, local)
    merged: dict[int, list[dict[str, Any]]] = {}
    for part in gathered:
        for image_id, results in (part or {}).items():
            merged.setdefault(image_id, results)
    return merged
