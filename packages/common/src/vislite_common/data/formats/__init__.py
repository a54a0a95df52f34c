"""Readers for the on-disk dataset layouts the embedded world writes (and the real datasets use).

Malformed input raises ``FormatError`` (a ValueError naming the file and what was expected); missing files and
folders raise FileNotFoundError naming the path.
"""

from vislite_common.data.formats.ade20k import ade20k_pairs
from vislite_common.data.formats.errors import FormatError
from vislite_common.data.formats.got10k import Got10kSequence, list_got10k_sequences, read_got10k_sequence
from vislite_common.data.formats.lasot import LasotSequence, list_lasot_sequences, read_lasot_sequence

__all__ = [
    "FormatError",
    "Got10kSequence",
    "LasotSequence",
    "ade20k_pairs",
    "list_got10k_sequences",
    "list_lasot_sequences",
    "read_got10k_sequence",
    "read_lasot_sequence",
]
