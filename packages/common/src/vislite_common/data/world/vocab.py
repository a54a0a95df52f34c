"""The world's vocabulary: shape classes, colours, textures, stuff classes and background photos."""

from __future__ import annotations

# Shape classes, in category-id order (COCO category id / ADE20K label = index + 1).
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "hexagon", "cross", "ring", "ellipse")

# Default open-vocabulary split: these classes are "unseen" (the others "seen").
DEFAULT_UNSEEN: tuple[str, ...] = ("hexagon", "ring")

# Named object colours (RGB). Each object jitters its colour a little around the named value.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 40, 40),
    "orange": (240, 140, 30),
    "yellow": (235, 215, 45),
    "green": (45, 165, 60),
    "cyan": (40, 200, 210),
    "blue": (40, 75, 215),
    "purple": (135, 60, 185),
    "white": (238, 238, 238),
}

# Look-alike colour pairs used for "similar colour, different shape" distractors.
SIMILAR_COLOURS: dict[str, str] = {
    "red": "orange",
    "orange": "red",
    "yellow": "white",
    "white": "yellow",
    "green": "cyan",
    "cyan": "green",
    "blue": "purple",
    "purple": "blue",
}

# Object surface patterns; "brick", "grass" and "gravel" come from scikit-image's texture photos.
TEXTURES: tuple[str, ...] = ("plain", "striped", "brick", "grass", "gravel")
PHOTO_TEXTURES: tuple[str, ...] = ("brick", "grass", "gravel")

# Adjective used in captions for each texture ("" = none).
TEXTURE_ADJECTIVES: dict[str, str] = {
    "plain": "",
    "striped": "striped",
    "brick": "brick-textured",
    "grass": "grassy",
    "gravel": "gravelly",
}

# Stuff (texture region) classes of the semantic-segmentation layout with their tint (RGB).
STUFF: dict[str, tuple[int, int, int]] = {
    "brick": (175, 85, 62),
    "grass": (78, 140, 52),
    "gravel": (142, 136, 126),
}

# Background photos shipped inside scikit-image's wheel (no download), with a caption phrase for each.
BACKGROUNDS: dict[str, str] = {
    "astronaut": "an astronaut",
    "chelsea": "a cat",
    "coffee": "a cup of coffee",
    "rocket": "a rocket on its launch pad",
    "hubble_deep_field": "a starry sky",
    "motorcycle_left": "a motorcycle",
    "motorcycle_right": "a motorcycle",
    "camera": "a cameraman",
    "coins": "old coins",
    "immunohistochemistry": "a stained tissue sample",
    "retina": "a retina",
    "moon": "the surface of the moon",
    "clock": "a clock",
}


def plural(shape: str) -> str:
    """English plural of a shape name ("cross" → "crosses")."""
    return shape + ("es" if shape.endswith(("s", "x")) else "s")


def describe(shape: str, colour: str, texture: str) -> str:
    """Noun phrase for one object, e.g. "red striped star"."""
    adjective = TEXTURE_ADJECTIVES[texture]
    return " ".join(word for word in (colour, adjective, shape) if word)


def with_article(phrase: str) -> str:
    """Prefix "a" or "an" ("an orange ring", "a red star")."""
    return ("an " if phrase[:1] in "aeiou" else "a ") + phrase
