# SPDX-License-Identifier: Apache-2.0
"""The privacy guard: no patron identifier leaves the edge except as a salted hash.

A key that names a patron identifier may only hold ``null`` or a salted hash ``h:<hex>``
(32-128 lowercase hex digits: at least 128 bits, e.g. HMAC-SHA-256 with a per-tenant secret,
so that a card number written as ``h:`` + digits is too short to pass). Patron keys, compared
ASCII-case-insensitively, ``-`` and ``_`` alike:

    patron, patron_*, borrower, borrower_*   any key about the patron (patron_name, patron_id)
    card, card_number, cardnumber            the library card
    pin, password                            secrets

The JSON Schema files carry the same rule (common.json#/$defs/privacySafe), with the pattern
spelt out in ASCII character classes because ECMA-262 patterns have no inline ignore-case.

Not responsible for: free text that happens to contain a name (producers must not put SIP2
screen messages or patron names into ``reason``/``detail`` texts), hashing (the daemon owns
the secret).
"""

from __future__ import annotations

import re
from typing import Any

from protocols.contract.errors import ContractError, join_path

PATRON_KEY_PATTERN = r"(?:patron|borrower)(?:[_-].*)?|card(?:[_-]?number)?|pin|password"
PATRON_HASH_PATTERN = "h:[0-9a-f]{32,128}"
# Anchored as a JSON Schema validator in Python anchors "^(?:...)$" (``$`` also before a final
# newline), so that the codec and such a validator agree even on that corner.
_PATRON_KEY = re.compile(f"(?:{PATRON_KEY_PATTERN})$", re.IGNORECASE | re.ASCII | re.DOTALL)
_PATRON_HASH = re.compile(PATRON_HASH_PATTERN)


def is_patron_key(key: str) -> bool:
    return _PATRON_KEY.match(key) is not None


def is_patron_hash(value: object) -> bool:
    return isinstance(value, str) and _PATRON_HASH.fullmatch(value) is not None


def check_no_patron_identifiers(data: Any, path: str = "data") -> None:
    """ContractError naming the first patron key in ``data`` (at any depth) whose value is
    neither null nor a salted hash ``h:<hex>``."""
    stack: list[tuple[Any, str]] = [(data, path)]
    while stack:
        value, where = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                inner = join_path(where, str(key))
                if isinstance(key, str) and is_patron_key(key):
                    if item is not None and not is_patron_hash(item):
                        raise ContractError(
                            "a patron identifier may only be null or a salted hash h:<hex> "
                            "(32-128 lowercase hex digits)", field=inner)
                else:
                    stack.append((item, inner))
        elif isinstance(value, list | tuple):
            stack.extend((item, f"{where}[{index}]") for index, item in enumerate(value))
