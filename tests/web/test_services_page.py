# SPDX-License-Identifier: Apache-2.0
"""The technical services page (``/services/``) in a real headless Chromium (Debian's
``chromium``) against the real demo (`libedge demo`: the daemon, the staff desk pad simulated
on a pty, the demo's props), as processing staff use it.

- Receiving: two expected copies imported from a CSV file chosen in the file input, a delivery
  started, the supplier's item put on the staff pad appears live (the event stream) matched to
  the first copy with what its tag carries; accepting re-programs it (checked on the tag
  through the reader, not only in the page); closing shows the summary with the other copy
  missing.
- A migration campaign: created, run on the station, the demo's 3M-labelled book put on the pad
  counts as converted (live), pending by estimate drops; the report shows it by model and the
  survey's finding for its tag (a factory password) in the table; the tag is ISO 28560-2 now
  (read through the reader); finished.
- Interlibrary loan: another library's book received with a transaction number (its tag
  written, secured), listed, returned from its row.
- The API's refusals next to the control that caused them: a campaign without source models
  (by the fieldset), a second campaign run where one runs (in its row; Stop, then it runs), a
  CSV line without its columns (by the pasted text), receiving with no tag on the pad (by the
  buttons).
- The page in Danish, its labels and contrast (the same checks as tests/web/test_pages.py), and
  no script error anywhere. Screenshots go to test-artifacts/screenshots/ (not compared).

Limits, said plainly: the props are moved through the demo's API, not the staff page's demo
controls (the same simulated field, one page less polling the pad); the accept progress bar is
checked at its end state only (one item is re-programmed in well under a second); the demo's
tags have no locked blocks, so the ILL write is always possible (the "left as it is" path and
a failed re-programming are covered by the workflow tests, not here); the page's reconnection
after a lost event stream is not exercised."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.web import test_pages
from tests.web.demo import Demo, until
from tests.web.test_pages import (
    CHROMIUM,
    DASH,
    WAIT_MS,
    no_script_errors,
    open_page,
    page_problems,
    shot,
)

# The page tests' fixtures, bound here so that pytest finds them for this module: a demo of
# its own (module scope), the browser and a fresh context per test.
demo = test_pages.demo
browser = test_pages.browser
context = test_pages.context

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed (scripts/system-deps.sh installs it for CI)")

STATION = "staff-desk"
ORDER, GS1 = "PO-2026-0815", "9788702173055"   # what the demo's supplier props carry
FIRST_COPY, SECOND_COPY = "5012345640", "5012345641"
ORDER_LINES = f"""order_number,order_line,primary_item_id,gs1_product_identifier,\
supplier_identifier,title,type_of_usage
{ORDER},1,{FIRST_COPY},{GS1},BTJ,Enten - Eller,10
{ORDER},1,{SECOND_COPY},{GS1},BTJ,Enten - Eller,10
"""
SUPPLIER_UID = "E0040150AC000001"
THREE_M_PROP, THREE_M_UID, THREE_M_ITEM = "3m-5012345609", "E00401012AC25309", "5012345609"
FOREIGN_PROP, FOREIGN_ITEM, FOREIGN_OWNER = "foreign-7750000001", "7750000001", "DK-775100"
SERVICES_KEY = re.compile(r"\bservices\.[a-z_.]+\b")


def services(context: BrowserContext, demo: Demo, query: str = "") -> Page:
    """The page with the staff token in its URL, as the demo prints it; its script errors
    (``no_script_errors``) and the texts its catalogue lacks (``no_missing_texts``) are kept."""
    page = context.new_page()
    errors: list[str] = []
    missing: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: missing.append(message.text)
            if "LibEdge:" in message.text and "no text for" in message.text else None)
    page.goto(demo.url("services", query))
    page.wait_for_load_state("networkidle")
    page.script_errors = errors  # type: ignore[attr-defined]
    page.missing_texts = missing  # type: ignore[attr-defined]
    expect(page.locator("#live-state")).not_to_be_empty(timeout=WAIT_MS)   # stream open
    no_script_errors(page)
    return page


def no_missing_texts(page: Page) -> None:
    """No text was asked of the catalogue that it does not have (libedge.js warns)."""
    assert not page.missing_texts, page.missing_texts  # type: ignore[attr-defined]


def place(demo: Demo, prop: str, where: str) -> None:
    status, body = demo.call("POST", f"/api/v1/demo/objects/{prop}/place", body={"place": where})
    assert status == 200, body


def clear_staff_pad(demo: Demo) -> None:
    """Another test's leftovers off the staff pad (each test starts with it empty)."""
    _, objects = demo.call("GET", "/api/v1/demo")
    for prop in objects["objects"]:
        if prop["place"] == "staff":
            place(demo, prop["id"], "shelf")


def tag_on_pad(demo: Demo, uid: str, **wanted: Any) -> dict[str, Any] | None:
    """The tag as the desk reader reads and decodes it now, once it holds ``wanted``."""
    status, tags = demo.call("GET", f"/api/v1/staff/{STATION}/tags")
    assert status == 200, tags
    tag = next((t for t in tags if t["uid"] == uid), None)
    return tag if tag and all(tag.get(k) == v for k, v in wanted.items()) else None


def confirm(page: Page, text: str) -> None:
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(text)
    dialog.get_by_role("button", name="Yes, do it").click()


def test_receiving_a_delivery_matches_accepts_and_closes_with_one_missing(
        demo: Demo, context: BrowserContext, tmp_path: Path) -> None:
    clear_staff_pad(demo)
    page = services(context, demo)
    csv = tmp_path / "order-0815.csv"
    csv.write_text(ORDER_LINES, encoding="utf-8")
    page.get_by_label("A CSV file of order lines").set_input_files(csv)
    page.get_by_role("button", name="Import order lines").click()
    expect(page.locator("#expected-result")).to_have_text("Expected copies stored: 2.",
                                                          timeout=WAIT_MS)
    expect(page.locator("#expected-counts")).to_have_text(
        "Expected and not yet received: 2. Received: 0.")

    page.get_by_label("Supplier").fill("BTJ")
    page.get_by_role("button", name="Start delivery").click()
    summary = page.locator("#delivery-summary")
    expect(summary).to_have_text(f"Reading. Orders: {DASH}. 0 received, 0 unexpected, "
                                 "0 duplicates, 0 missing, 0 unreadable.", timeout=WAIT_MS)
    expect(page.get_by_role("button", name="Start delivery")).to_be_disabled()

    place(demo, "supplier-1", "staff")
    row = page.locator(f'#delivery-tags tr[data-uid="{SUPPLIER_UID}"]')
    expect(row).to_have_attribute("data-outcome", "received", timeout=WAIT_MS)
    cells = row.locator("td")
    expect(cells.nth(0)).to_contain_text("Received")
    expect(cells.nth(1)).to_contain_text(FIRST_COPY)      # the first copy of the order line
    expect(cells.nth(1)).to_contain_text("Enten - Eller")
    for index, carried in enumerate(("BTJ", ORDER, "INV-77812", "3", GS1), start=2):
        expect(cells.nth(index)).to_have_text(carried)    # what the supplier's tag carries
    expect(cells.nth(7)).to_have_text("After accepting")
    expect(summary).to_have_text(f"Reading. Orders: {ORDER}. 1 received, 0 unexpected, "
                                 "0 duplicates, 1 missing, 0 unreadable.")
    expect(page.locator("#delivery-missing")).to_contain_text(SECOND_COPY)
    assert page_problems(page) == ([], [])
    shot(page, "services-receiving")

    page.get_by_role("button", name="Accept: write our data to the received items").click()
    confirm(page, "Write our library's data to the received items (1)")
    expect(row).to_have_attribute("data-programmed", "true", timeout=WAIT_MS)
    expect(cells.nth(7)).to_have_text("Written and verified")
    expect(page.locator("#accept-text")).to_have_text(
        "Our data written and verified on 1 of 1 received items; 0 failed (tried again when "
        "the item comes back to the pad).")
    expect(page.locator("#accept-bar")).to_have_js_property("value", 1)
    # On the tag itself, read back through the desk reader: the copy's id, our ISIL and model.
    written = until(lambda: tag_on_pad(demo, SUPPLIER_UID, primary_item_id=FIRST_COPY), 10.0,
                    "the re-programmed tag")
    assert (written["model"], written["owner_institution"], written["secured"]) == (
        "iso28560-2", "DK-718500", True)
    assert "order_number" not in written["elements"]   # the supplier's data is not kept

    page.get_by_role("button", name="Close the delivery").click()
    confirm(page, "Expected copies still missing: 1.")
    expect(page.locator("#delivery-closed")).to_have_text(
        "Delivery closed: 1 received, 0 unexpected, 1 missing, 0 duplicates, 0 matched but not "
        "written.", timeout=WAIT_MS)
    expect(page.locator("#delivery-missing li")).to_have_count(1)
    expect(page.locator("#delivery-missing")).to_contain_text(SECOND_COPY)
    expect(page.locator("#expected-counts")).to_have_text(
        "Expected and not yet received: 1. Received: 1.", timeout=WAIT_MS)
    expect(page.get_by_role("button", name="Start delivery")).to_be_enabled()
    expect(page.locator("#delivery-now-title")).to_have_text("The last delivery")
    shot(page, "services-receiving-closed")
    place(demo, "supplier-1", "shelf")
    no_script_errors(page)
    no_missing_texts(page)


def test_a_campaign_run_here_converts_a_3m_tag_and_reports_it(
        demo: Demo, context: BrowserContext) -> None:
    clear_staff_pad(demo)
    page = services(context, demo)
    # The demo library's own model (ISO 28560-2) is what campaigns convert to: no source.
    sources = page.locator("#campaign-models")
    expect(sources.get_by_label("ISO 28560-2")).to_be_hidden(timeout=WAIT_MS)
    expect(sources.get_by_label("ISO 28560-3")).to_be_visible()
    page.get_by_label("Name", exact=True).fill("3M labels")
    sources.get_by_label("3M").check()
    page.get_by_label("Items in the collection (estimate, optional)").fill("100")
    page.get_by_role("button", name="Create campaign").click()
    expect(page.locator("#campaign-result")).to_contain_text("Campaign “3M labels” created.",
                                                             timeout=WAIT_MS)
    row = page.locator("#campaigns tr", has_text="3M labels")
    expect(row).to_have_attribute("data-state", "active")
    expect(row.locator('[data-count="pending"]')).to_have_text("100")

    row.get_by_role("button", name="Run campaign 3M labels on this station").click()
    confirm(page, "Run campaign “3M labels” on this station?")
    expect(row).to_have_attribute("data-running", "true", timeout=WAIT_MS)
    expect(row).to_contain_text("Running here")

    place(demo, THREE_M_PROP, "staff")
    expect(row.locator('[data-count="converted"]')).to_have_text("1", timeout=WAIT_MS)
    for count, value in (("failed", "0"), ("already", "0"), ("skipped", "0"), ("pending", "99")):
        expect(row.locator(f'[data-count="{count}"]')).to_have_text(value)
    report = page.locator("#report")
    expect(page.locator("#report-title")).to_have_text("Report: 3M labels")
    expect(page.locator("#report-summary")).to_have_text(
        "Converting to ISO 28560-2: 1 converted, 0 failed, 0 already converted, 0 skipped; "
        "pending by estimate: 99 of 100.", timeout=WAIT_MS)
    expect(page.locator("#by-model")).to_have_text("3M: 1 converted, 0 failed")
    expect(page.locator("#report-bar")).to_have_js_property("value", 1)
    expect(report.locator("#failures-empty")).to_be_visible()
    # The survey's finding, tag by tag: the simulated tag keeps its factory EAS/AFI password.
    finding = report.locator('#health tr[data-finding="default_passwords"]')
    expect(finding).to_have_count(1)
    expect(finding).to_contain_text(THREE_M_UID)
    expect(finding).to_contain_text(THREE_M_ITEM)
    expect(finding).to_contain_text("Set a password")
    converted = until(lambda: tag_on_pad(demo, THREE_M_UID, model="iso28560-2"), 10.0,
                      "the converted tag")
    assert (converted["primary_item_id"], converted["owner_institution"]) == (
        THREE_M_ITEM, "DK-718500")
    assert page_problems(page) == ([], [])
    shot(page, "services-campaign")

    row.get_by_role("button", name="Finish campaign 3M labels").click()
    confirm(page, "Finish campaign “3M labels”?")
    expect(row).to_have_attribute("data-state", "finished", timeout=WAIT_MS)
    expect(row.get_by_role("button", name=re.compile("^Run campaign"))).to_have_count(0)
    expect(row.locator('[data-count="converted"]')).to_have_text("1")
    place(demo, THREE_M_PROP, "shelf")
    no_script_errors(page)
    no_missing_texts(page)


def test_an_interlibrary_loan_is_received_listed_and_returned(
        demo: Demo, context: BrowserContext) -> None:
    clear_staff_pad(demo)
    page = services(context, demo)
    expect(page.locator("#loans-empty")).to_be_visible()
    place(demo, FOREIGN_PROP, "staff")
    uid = _uid_of(demo, FOREIGN_PROP)
    until(lambda: tag_on_pad(demo, uid), 10.0, "the book on the pad")
    page.get_by_role("button", name="Read the pad again").click()
    tag = page.get_by_label("Tag", exact=True)
    expect(tag.locator("option")).to_have_count(2, timeout=WAIT_MS)   # the only tag + it
    page.get_by_label("ILL transaction number").fill("ILL-2026-17")
    page.get_by_role("button", name="Receive on loan").click()
    confirm(page, "Receive this item on loan (The only tag on the pad)?")
    expect(page.locator("#ill-result")).to_have_text(
        f"Received on loan: item {FOREIGN_ITEM} of {FOREIGN_OWNER}; tag written and verified; "
        "security: Secured (AFI 07).", timeout=WAIT_MS)
    loan = page.locator(f'#loans tr[data-item="{FOREIGN_ITEM}"]')
    expect(loan).to_contain_text("ILL-2026-17", timeout=WAIT_MS)
    expect(loan.locator("td").nth(3)).to_have_text("Yes")
    assert page_problems(page) == ([], [])
    shot(page, "services-ill")

    loan.get_by_role("button", name=f"Return {FOREIGN_ITEM} to {FOREIGN_OWNER}").click()
    confirm(page, "Return this item to its owner")
    expect(page.locator("#ill-result")).to_have_text(
        f"Returned: item {FOREIGN_ITEM} to {FOREIGN_OWNER}; tag written and verified.",
        timeout=WAIT_MS)
    expect(page.locator("#loans-empty")).to_be_visible(timeout=WAIT_MS)
    returned = until(lambda: tag_on_pad(demo, uid, primary_item_id=FOREIGN_ITEM), 10.0,
                     "the returned tag")
    assert "ill_borrowing_institution" not in returned["elements"]   # cleared again
    place(demo, FOREIGN_PROP, "shelf")
    no_script_errors(page)
    no_missing_texts(page)


def _uid_of(demo: Demo, prop: str) -> str:
    _, objects = demo.call("GET", "/api/v1/demo")
    [uid] = next(p["uids"] for p in objects["objects"] if p["id"] == prop)
    return str(uid)


def test_the_apis_refusals_are_shown_next_to_the_control_that_caused_them(
        demo: Demo, context: BrowserContext) -> None:
    clear_staff_pad(demo)
    page = services(context, demo)
    # A campaign without source models: the API's 422 names body.source_models.
    page.get_by_label("Name", exact=True).fill("No models")
    page.get_by_role("button", name="Create campaign").click()
    models = page.locator("#campaign-models")
    problem = page.locator("#campaign-models + p.error")
    expect(problem).to_contain_text("Not done: body.source_models:", timeout=WAIT_MS)
    expect(problem).to_have_attribute("role", "alert")
    expect(models).to_have_attribute("aria-invalid", "true")
    expect(models).to_have_attribute("aria-describedby", re.compile(r"campaign-create-problem"))
    expect(page.get_by_label("Name", exact=True)).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("#campaigns tr", has_text="No models")).to_have_count(0)
    # Fixed and sent again: the refusal goes.
    models.get_by_label("3M").check()
    page.get_by_role("button", name="Create campaign").click()
    first = page.locator("#campaigns tr", has_text="No models")
    expect(first).to_have_count(1, timeout=WAIT_MS)
    expect(problem).to_have_count(0)
    expect(models).not_to_have_attribute("aria-invalid", "true")

    # A second campaign cannot run where one runs: the 409 is shown in its own row.
    first.get_by_role("button", name="Run campaign No models on this station").click()
    confirm(page, "Run campaign “No models”")
    expect(first).to_have_attribute("data-running", "true", timeout=WAIT_MS)
    page.get_by_label("Name", exact=True).fill("Second")
    models.get_by_label("3M").check()
    page.get_by_role("button", name="Create campaign").click()
    second = page.locator("#campaigns tr", has_text="Second")
    second.get_by_role("button", name="Run campaign Second on this station").click()
    confirm(page, "Run campaign “Second”")
    refusal = second.locator("p.error")
    expect(refusal).to_have_text(re.compile(
        r"^Not done: Campaign cmp-\S+ runs on this station; stop it first\.$"), timeout=WAIT_MS)
    expect(first.locator("p.error")).to_have_count(0)
    first.get_by_role("button", name="Stop campaign No models on this station").click()
    expect(first).to_have_attribute("data-running", "false", timeout=WAIT_MS)
    second.get_by_role("button", name="Run campaign Second on this station").click()
    confirm(page, "Run campaign “Second”")
    expect(second).to_have_attribute("data-running", "true", timeout=WAIT_MS)
    expect(refusal).to_have_count(0)   # done now: the row's refusal goes
    expect(page.locator("#report-summary")).to_have_text(   # no estimate: no pending count
        "Converting to ISO 28560-2: 0 converted, 0 failed, 0 already converted, 0 skipped.")
    for row, name in ((first, "No models"), (second, "Second")):
        row.get_by_role("button", name=f"Finish campaign {name}").click()
        confirm(page, f"Finish campaign “{name}”?")
        expect(row).to_have_attribute("data-state", "finished", timeout=WAIT_MS)

    # Order lines without their columns: refused naming the line, next to the pasted text.
    page.get_by_label("Or paste the lines").fill("order_number\nPO-1\n")
    page.get_by_role("button", name="Import order lines").click()
    expect(page.locator("#expected-csv + p.error")).to_contain_text(
        re.compile(r"^Not done: csv:1: .*primary_item_id"), timeout=WAIT_MS)
    expect(page.get_by_label("Or paste the lines")).to_have_attribute("aria-invalid", "true")

    # Nothing on the pad: the refusal (no field) goes under the buttons that sent it.
    page.get_by_role("button", name="Receive on loan").click()
    confirm(page, "Receive this item on loan")
    expect(page.locator("#ill-actions + p.error")).to_contain_text("Not done:",
                                                                  timeout=WAIT_MS)
    assert page_problems(page) == ([], [])
    shot(page, "services-errors")
    no_script_errors(page)
    no_missing_texts(page)


def test_the_page_in_danish_labels_its_controls_and_keeps_contrast(
        demo: Demo, context: BrowserContext) -> None:
    page = services(context, demo, "lang=da")
    expect(page.locator("main h1")).to_have_text("Teknisk service")
    expect(page.locator("#receiving-title")).to_have_text("Modtagelse")
    expect(page.locator("#live-state")).to_have_text("Direkte opdatering er slået til.")
    text = page.locator("body").inner_text()
    assert not SERVICES_KEY.search(text), SERVICES_KEY.search(text)   # no key shown raw
    assert page.evaluate("document.documentElement.lang") == "da"
    assert page_problems(page) == ([], [])
    shot(page, "services-danish")
    page.get_by_role("button", name="English").click()
    expect(page.locator("main h1")).to_have_text("Technical services")

    # Linked from the landing page and the staff station.
    landing = open_page(context, f"{demo.base}/")
    landing.get_by_role("link", name="Technical services").click()
    expect(landing).to_have_url(re.compile(r"/services/$"))
    staff = open_page(context, demo.url("staff"))
    expect(staff.get_by_role("navigation", name="Pages").get_by_role(
        "link", name="Technical services")).to_have_attribute("href", "/services/")
    for shown in (page, landing, staff):
        no_script_errors(shown)
    no_missing_texts(page)
