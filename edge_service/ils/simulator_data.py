# SPDX-License-Identifier: Apache-2.0
"""The ILS simulator's data file: a catalogue, patrons, SC accounts and loan-rule settings.

Format ``libedge-ils-sim/1`` (JSON)::

    {
      "format": "libedge-ils-sim/1",
      "library": {"institution_id": "DK-718500", "name": "Main Library",
                  "location": "MAIN", "branches": {"MAIN": "Main Library", "EAST": "East"}},
      "accounts": [{"user": "kiosk1", "password": "...", "location": "MAIN"}],
      "settings": {"loan_days": 28, "renew_limit": 2, "sets_policy": "refuse_incomplete",
                   "accept_offline_replay": true, "offline_ok": true, "require_login": true,
                   "verify_pin": true, "charset": "utf-8"},
      "items": [{"barcode": "...", "owner": "DK-718500", "title": "...",
                 "media": "book|magazine|audio-tape|video-tape|cd|dvd|other",
                 "status": "available|in-process|lost|missing|on-order|in-transit",
                 "holds": [{"patron": "<patron barcode>", "pickup": "MAIN"}],
                 "not_for_loan": false, "set_parts": 1, "sort_bin": "A1",
                 "permanent_location": "MAIN", "call_number": "839.8 KIE"}],
      "patrons": [{"barcode": "...", "pin": "1234", "name": "...", "blocked": false,
                   "loans": ["<item barcode>", {"item": "<item barcode>", "due_in_days": -3},
                             ...], "fines": "0.00", "email": "..."}]
    }

Every key of an item or patron except ``barcode`` and ``title``/``name`` is optional. An item
whose ``owner`` differs from the library's institution id belongs to another library (an
inter-library loan or a stray); an item whose ``permanent_location`` is another branch is sent
there on check-in. A loan is an item barcode (no due date) or ``{"item", "due_in_days"}``: due
that many days after the simulator starts (negative: already overdue), so a data file does not
go stale.

Not responsible for: loan rules (``simulator.py`` applies them) or persistence (state lives in
memory; the file is never written back).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_service.ils.errors import IlsConfigError

FORMAT = "libedge-ils-sim/1"
SETS_POLICIES = ("allow", "refuse_incomplete", "refuse")
MEDIA_TYPES = {  # -> (SIP2 media type, magnetic media)
    "other": ("000", False), "book": ("001", False), "magazine": ("002", False),
    "audio-tape": ("004", True), "video-tape": ("005", True), "cd": ("006", False),
    "dvd": ("006", False),
}
ITEM_STATUSES = {  # -> SIP2 circulation status when not on loan
    "available": 3, "on-order": 2, "in-process": 6, "in-transit": 10, "lost": 12,
    "missing": 13, "on-hold-shelf": 8,
}


@dataclass
class Hold:
    patron: str
    pickup: str


@dataclass
class SimItem:
    barcode: str
    title: str
    owner: str
    media: str = "book"
    status: str = "available"
    holds: list[Hold] = field(default_factory=list)
    not_for_loan: bool = False
    set_parts: int = 1
    sort_bin: str | None = None
    permanent_location: str = ""
    call_number: str | None = None
    loaned_to: str | None = None
    due: str | None = None  # SIP2 date text
    renewals: int = 0
    due_in_days: int | None = None
    """A loan of the data file: due this many days after the simulator starts."""
    properties: str | None = None


@dataclass
class SimPatron:
    barcode: str
    name: str
    pin: str = ""
    blocked: bool = False
    fines: str = "0.00"
    email: str | None = None


@dataclass(frozen=True)
class SimSettings:
    loan_days: int = 28
    renew_limit: int = 2
    sets_policy: str = "refuse_incomplete"
    accept_offline_replay: bool = True
    offline_ok: bool = True
    require_login: bool = True
    verify_pin: bool = True
    charset: str = "utf-8"

    def __post_init__(self) -> None:
        if self.sets_policy not in SETS_POLICIES:
            raise IlsConfigError(f"settings.sets_policy: one of {SETS_POLICIES}")


@dataclass
class SimData:
    institution_id: str
    library_name: str
    location: str
    branches: dict[str, str]
    accounts: dict[str, tuple[str, str]]  # user -> (password, location)
    settings: SimSettings
    items: dict[str, SimItem]
    patrons: dict[str, SimPatron]


def _get(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str,
         default: Any = ...) -> Any:
    if key not in obj:
        if default is ...:
            raise IlsConfigError(f"{where}: missing key {key!r}")
        return default
    value = obj[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise IlsConfigError(f"{where}.{key}: wrong type {type(value).__name__}")
    return value


def parse(document: dict[str, Any]) -> SimData:
    """Validate and build the simulator state; errors name the entry and key."""
    if document.get("format") != FORMAT:
        raise IlsConfigError(f"format: expected {FORMAT!r}")
    library = _get(document, "library", dict, "file")
    institution = _get(library, "institution_id", str, "library")
    location = _get(library, "location", str, "library", "MAIN")
    settings_table = _get(document, "settings", dict, "file", {})
    try:
        settings = SimSettings(**settings_table)
    except TypeError as exc:
        raise IlsConfigError(f"settings: {exc}") from None
    accounts: dict[str, tuple[str, str]] = {}
    for i, acc in enumerate(_get(document, "accounts", list, "file", [])):
        where = f"accounts[{i}]"
        accounts[_get(acc, "user", str, where)] = (_get(acc, "password", str, where),
                                                   _get(acc, "location", str, where, location))
    patrons: dict[str, SimPatron] = {}
    loans: dict[str, str] = {}
    due_in_days: dict[str, int] = {}
    for i, p in enumerate(_get(document, "patrons", list, "file")):
        where = f"patrons[{i}]"
        barcode = _get(p, "barcode", str, where)
        if barcode in patrons:
            raise IlsConfigError(f"{where}: duplicate patron barcode")
        patrons[barcode] = SimPatron(
            barcode=barcode, name=_get(p, "name", str, where), pin=_get(p, "pin", str, where, ""),
            blocked=_get(p, "blocked", bool, where, False),
            fines=_get(p, "fines", str, where, "0.00"), email=_get(p, "email", str, where, None))
        for j, loan in enumerate(_get(p, "loans", list, where, [])):
            if isinstance(loan, dict):
                item = _get(loan, "item", str, f"{where}.loans[{j}]")
                due_in_days[item] = _get(loan, "due_in_days", int, f"{where}.loans[{j}]")
                loans[item] = barcode
            else:
                loans[str(loan)] = barcode
    items: dict[str, SimItem] = {}
    for i, it in enumerate(_get(document, "items", list, "file")):
        where = f"items[{i}]"
        barcode = _get(it, "barcode", str, where)
        if barcode in items:
            raise IlsConfigError(f"{where}: duplicate item barcode")
        media = _get(it, "media", str, where, "book")
        status = _get(it, "status", str, where, "available")
        if media not in MEDIA_TYPES:
            raise IlsConfigError(f"{where}.media: one of {sorted(MEDIA_TYPES)}")
        if status not in ITEM_STATUSES:
            raise IlsConfigError(f"{where}.status: one of {sorted(ITEM_STATUSES)}")
        holds = []
        for h in _get(it, "holds", list, where, []):
            patron = _get(h, "patron", str, f"{where}.holds")
            if patron not in patrons:
                raise IlsConfigError(f"{where}.holds: unknown patron")
            holds.append(Hold(patron, _get(h, "pickup", str, f"{where}.holds", location)))
        items[barcode] = SimItem(
            barcode=barcode, title=_get(it, "title", str, where),
            owner=_get(it, "owner", str, where, institution), media=media, status=status,
            holds=holds, not_for_loan=_get(it, "not_for_loan", bool, where, False),
            set_parts=_get(it, "set_parts", int, where, 1),
            sort_bin=_get(it, "sort_bin", str, where, None),
            permanent_location=_get(it, "permanent_location", str, where, location),
            call_number=_get(it, "call_number", str, where, None),
            loaned_to=loans.pop(barcode, None), due_in_days=due_in_days.get(barcode))
    if loans:
        raise IlsConfigError(f"patrons: {len(loans)} loans of unknown items")
    return SimData(
        institution_id=institution, library_name=_get(library, "name", str, "library", ""),
        location=location, branches=_get(library, "branches", dict, "library", {}),
        accounts=accounts, settings=settings, items=items, patrons=patrons)


def load(path: str | Path) -> SimData:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise IlsConfigError(f"cannot read simulator data {path}: {exc}") from None
    if not isinstance(document, dict):
        raise IlsConfigError("simulator data: top level must be an object")
    return parse(document)
