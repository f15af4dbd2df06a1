# SPDX-License-Identifier: Apache-2.0
"""The staff and technical services pages load without a failed request or a console error:
on an idle box (no batch, inventory session or delivery yet; no self-check pad; not the demo)
and on a busy one, whose running batch, open session and open delivery they show at load.

The box is `libedge run` with a staff desk pad (a simulated FEIG reader on a real pty), as
systemd runs it, in a real headless Chromium (Debian's ``chromium``). A request answered 4xx
or 5xx makes Chromium log "Failed to load resource" on the console: the test records every
answer of 400 and above, every request that failed, every console error and every script
error while the page loads, and wants none.

Limits, said plainly: "loaded" is when the page shows what its first requests answered and
the network has been quiet for 500 ms (Playwright's ``networkidle``); the pages' later polls
are not watched."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.api.daemon import Box, daemon_with
from tests.daemon.harness import send_json
from tests.web import test_pages
from tests.web.test_pages import CHROMIUM, WAIT_MS

# The page tests' browser and a fresh context per test, bound here so that pytest finds them.
browser = test_pages.browser
context = test_pages.context

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed (scripts/system-deps.sh installs it for CI)")

STATION = "desk"
LIBRARY = '[library]\nisil = "DK-718500"\n'


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Box]:
    with daemon_with(tmp_path, [(STATION, "staff", {"tags": []})], extra=LIBRARY) as running:
        yield running


def loaded(context: BrowserContext, box: Box, page_name: str) -> tuple[Page, list[str]]:
    """The page opened with the staff token, and what went wrong while it loaded."""
    page = context.new_page()
    problems: list[str] = []
    page.on("response", lambda response: problems.append(
        f"{response.status} {response.request.method} {response.url}")
        if response.status >= 400 else None)
    page.on("requestfailed", lambda request: problems.append(
        f"failed: {request.method} {request.url} ({request.failure})"))
    page.on("console", lambda message: problems.append(f"console: {message.text}")
            if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"script: {error}"))
    page.goto(f"{box.base}/{page_name}/#token={box.token('staff')}")
    expect(page.locator("#content")).to_be_visible(timeout=WAIT_MS)
    return page, problems


def settled(page: Page, problems: list[str]) -> None:
    page.wait_for_load_state("networkidle")
    assert not problems, problems


def staff_post(box: Box, path: str, body: object) -> None:
    status, answer = send_json(f"{box.base}/api/v1/staff/{STATION}{path}", body,
                               box.token("staff"))
    assert status == 201, answer


def test_idle_staff_and_services_pages_load_without_a_failed_request(
        box: Box, context: BrowserContext) -> None:
    staff, problems = loaded(context, box, "staff")
    expect(staff.locator("#pad-empty")).to_be_visible(timeout=WAIT_MS)   # the pad was read
    settled(staff, problems)
    expect(staff.locator("#batch-progress")).to_be_hidden()
    expect(staff.locator("#inventory-report")).to_be_hidden()
    expect(staff.locator("#inventory-start")).to_be_enabled()
    expect(staff.locator("#exceptions-empty")).to_be_visible()
    expect(staff.locator("#demo")).to_be_hidden()

    services, problems = loaded(context, box, "services")
    expect(services.locator("#live-state")).not_to_be_empty(timeout=WAIT_MS)   # stream open
    settled(services, problems)
    expect(services.locator("#delivery")).to_be_hidden()
    expect(services.locator("#delivery-start")).to_be_enabled()


def test_a_running_batch_an_open_inventory_and_an_open_delivery_show_at_load(
        box: Box, context: BrowserContext) -> None:
    staff_post(box, "/batch", {"kind": "secure"})   # runs until stopped
    staff_post(box, "/inventory", {"location": "Fic A1"})
    staff_post(box, "/acquisitions/deliveries", {"supplier_identifier": "BTJ"})

    staff, problems = loaded(context, box, "staff")
    expect(staff.locator("#batch-summary")).to_contain_text("Running", timeout=WAIT_MS)
    expect(staff.locator("#batch-stop")).to_be_enabled()
    expect(staff.locator("#inventory-summary")).to_contain_text("Reading Fic A1",
                                                                timeout=WAIT_MS)
    expect(staff.locator("#inventory-finish")).to_be_enabled()
    settled(staff, problems)

    services, problems = loaded(context, box, "services")
    expect(services.locator("#delivery")).to_have_attribute("data-state", "reading",
                                                            timeout=WAIT_MS)
    expect(services.locator("#delivery-start")).to_be_disabled()
    settled(services, problems)
