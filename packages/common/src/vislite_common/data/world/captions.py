"""Caption text for scenes: an attribute listing ("a red star and a blue ring on a photo of a cat") and a count."""

from __future__ import annotations

from collections import Counter

from vislite_common.data.world.scene import Look
from vislite_common.data.world.vocab import BACKGROUNDS, SHAPES, plural, with_article

_NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def _join(items: list[str]) -> str:
    """English list: "a", "a and b", "a, b and c"."""
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _count_phrase(shape: str, n: int) -> str:
    if n == 1:
        return with_article(shape)
    return f"{_NUMBERS[n] if n < len(_NUMBERS) else n} {plural(shape)}"


def describe_scene(looks: list[Look], background: str) -> list[str]:
    """Two captions for objects with ``looks`` (back to front) over the photo ``background``."""
    place = BACKGROUNDS[background]
    if not looks:
        return [f"a photo of {place}", f"nothing but {place}"]
    listing = _join([with_article(look.phrase()) for look in looks])
    counts = Counter(look.shape for look in looks)
    counted = _join([_count_phrase(shape, counts[shape]) for shape in SHAPES if counts[shape]])
    return [f"{listing} on a photo of {place}", f"{counted} in front of {place}"]
