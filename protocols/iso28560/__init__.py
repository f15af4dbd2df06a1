# SPDX-License-Identifier: Apache-2.0
"""ISO 28560 library tag data models (filled in as the codecs land)."""

from protocols.iso28560.elements import BY_NAME, BY_OID, ELEMENTS, ElementSpec, ValueKind
from protocols.iso28560.model import LibraryTag, TagImage, TagModel, UnknownData

__all__ = [
    "BY_NAME", "BY_OID", "ELEMENTS", "ElementSpec", "LibraryTag", "TagImage", "TagModel",
    "UnknownData", "ValueKind",
]
