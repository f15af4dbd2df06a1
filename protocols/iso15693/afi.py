# SPDX-License-Identifier: Apache-2.0
"""Which VICCs answer an AFI-filtered inventory (ISO/IEC 15693-3 clause 8.1, Table 11).

The AFI's high nibble is the application family, the low nibble the sub-family; a zero nibble
in the request is a wildcard: ``00`` reaches every VICC, ``X0`` every sub-family of family X,
``0Y`` sub-family Y of every family, ``XY`` only VICCs whose AFI is exactly XY.

Not responsible for: what AFI values mean to a library (configuration, see DESIGN.md).
"""

from __future__ import annotations


def afi_matches(requested: int, tag_afi: int) -> bool:
    """True when a VICC with ``tag_afi`` answers an inventory asking for ``requested``."""
    family, sub_family = requested >> 4, requested & 0x0F
    if family and family != tag_afi >> 4:
        return False
    return not sub_family or sub_family == tag_afi & 0x0F
