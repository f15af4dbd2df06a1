# SPDX-License-Identifier: Apache-2.0
"""The translation catalogues against the pages and the daemon: every text a page asks for
exists in every language, with the same placeholders, and every value the daemon can send for
a translated family (item states, reader roles, batch outcomes...) has its text."""

from __future__ import annotations

import json
import re

import pytest

from edge_service.api.kiosk import EXCEPTION_STATES
from edge_service.api.pages import languages, web_root
from edge_service.config import READER_ROLES
from edge_service.demo import PLACES
from edge_service.workflows.staff_batch import BatchKind, Outcome
from protocols.contract import CIRCULATION_STATUSES
from protocols.iso28560 import TagModel

WEB = web_root()
CATALOGUES = {lang: json.loads((WEB / "assets" / "i18n" / f"{lang}.json").read_text("utf-8"))
              for lang in languages()}
HTML_KEY = re.compile(r'data-i18n="([^"]+)"')
HTML_ATTRIBUTE_KEYS = re.compile(r'data-i18n-attr="([^"]+)"')
SCRIPT_KEY = re.compile(
    r"""["']((?:common|kiosk|staff|services|gate|status|landing|language)\.[\w.-]+)["']""")
"""A quoted key in a script: ``t("kiosk.item.done")``, a table of error keys, a conditional."""
STREAM_KINDS = {"gate.alarm", "gate.count", "gate.mismatch", "staff.batch", "staff.inventory",
                "staff.delivery", "staff.campaign", "staff.ill"}
"""Event stream kinds look like keys in a script; they are not texts."""
PLACEHOLDER = re.compile(r"\{(\w+)\}")
DYNAMIC = {   # key prefix -> every value the daemon or the page can put after it
    "common.state.": ["connected", "connecting", "starting", "unreachable", "stopped"],
    "common.role.": list(READER_ROLES),
    "language.": languages(),
    "staff.model.": [m.value for m in TagModel if m.value != "iso28560-1"],
    "staff.batch_kind.": [k.value for k in BatchKind],
    "staff.batch_state.": ["running", "finished", "stopped"],
    "staff.outcome.": [o.value for o in Outcome],
    "staff.exception.": list(EXCEPTION_STATES),
    "staff.demo.place.": list(PLACES),
    "staff.demo.to.": ["pad", "staff", "gate", "shelf"],
    "gate.direction.": ["in", "out", "unknown"],
    "gate.outputs.": ["available", "unavailable", "unknown"],
    "gate.detection.": ["afi-filter", "tag-check"],
    "gate.status.": sorted(CIRCULATION_STATUSES),
    "status.ils_backend.": ["sip2", "mqtt"],
}


def used_keys() -> set[str]:
    keys: set[str] = set()
    for path in WEB.rglob("*.html"):
        text = path.read_text("utf-8")
        keys.update(HTML_KEY.findall(text))
        for pairs in HTML_ATTRIBUTE_KEYS.findall(text):
            keys.update(pair.split(":", 1)[1].strip() for pair in pairs.split(";"))
    for path in WEB.rglob("*.js"):
        keys.update(set(SCRIPT_KEY.findall(path.read_text("utf-8"))) - STREAM_KINDS)
    keys.update(prefix + value for prefix, values in DYNAMIC.items() for value in values)
    keys.update(f"staff.demo.to.{place}.for" for place in DYNAMIC["staff.demo.to."])
    return keys


def test_english_comes_first_and_a_second_language_proves_translation() -> None:
    assert languages()[0] == "en"
    assert "da" in languages()


def test_every_catalogue_has_the_same_keys_and_placeholders() -> None:
    english = CATALOGUES["en"]
    for lang, catalogue in CATALOGUES.items():
        assert set(catalogue) == set(english), (lang, set(catalogue) ^ set(english))
        for key, text in catalogue.items():
            assert text.strip(), (lang, key)
            assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(english[key])), (
                lang, key)


@pytest.mark.parametrize("lang", sorted(CATALOGUES))
def test_every_text_a_page_asks_for_is_there(lang: str) -> None:
    keys = used_keys()
    assert len(keys) > 200   # the scan found the pages' keys, not nothing
    assert sorted(keys - set(CATALOGUES[lang])) == []


def test_no_catalogue_text_goes_unused() -> None:
    unused = set(CATALOGUES["en"]) - used_keys()
    assert sorted(unused) == []


def test_the_pages_show_no_text_that_is_not_in_the_catalogue() -> None:
    """Literal text in the HTML is only a fallback for the element's catalogue key: every
    element with text of its own names its key (data-i18n)."""
    for path in WEB.rglob("*.html"):
        text = path.read_text("utf-8")
        for match in re.finditer(r"<(h1|h2|h3|p|label|button|a|th|option|span|title)\b"
                                 r"([^>]*)>([^<]*[A-Za-z][^<]*)<", text):
            tag, attributes, content = match.groups()
            if "data-i18n=" in attributes or content.strip() == "LibEdge":
                continue
            pytest.fail(f"{path.name}: <{tag}> with text {content.strip()!r} and no "
                        "data-i18n key")
