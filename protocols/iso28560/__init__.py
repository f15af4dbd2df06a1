# SPDX-License-Identifier: Apache-2.0
"""ISO 28560 library tag data models: one model-independent LibraryTag, a codec per encoding.

- ``part2``: ISO 28560-2 (ISO/IEC 15962 no-directory data sets, compaction, lock plan);
- ``part3``: ISO 28560-3 (fixed basic block + extension blocks, lenient field variants);
- ``part4``: ISO/TS 28560-4 (UHF UII bank and user bank);
- ``legacy_3m``: 3M RFID501, with blank detection;
- ``detect``/``decode_any``: names the model or says unknown, never a silent guess;
- ``convert``: re-encode in another model, refusing to drop data unless allowed;
- ``relayout_part2``: change a part 2 tag's free elements around its locked data sets.

Not responsible for: talking to readers, or security (AFI/EAS are outside user memory).
"""

from protocols.iso28560 import legacy_3m, part2, part3, part4
from protocols.iso28560.convert import (
    CARRIES,
    TARGETS,
    Conversion,
    ConversionRefused,
    EncodedTag,
    convert,
    encode_tag,
)
from protocols.iso28560.detect import decode_any, decode_uhf, detect
from protocols.iso28560.elements import BY_NAME, BY_OID, ELEMENTS, ElementSpec, ValueKind
from protocols.iso28560.model import (
    LibraryTag,
    TagImage,
    TagModel,
    UnknownData,
    parse_set_information,
)
from protocols.iso28560.part2_relayout import relayout_part2

__all__ = [
    "BY_NAME", "BY_OID", "CARRIES", "ELEMENTS", "TARGETS", "Conversion", "ConversionRefused",
    "ElementSpec", "EncodedTag", "LibraryTag", "TagImage", "TagModel", "UnknownData",
    "ValueKind", "convert", "decode_any", "decode_uhf", "detect", "encode_tag", "legacy_3m",
    "parse_set_information", "part2", "part3", "part4", "relayout_part2",
]
