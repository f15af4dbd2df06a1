// SPDX-License-Identifier: Apache-2.0
/*
 * The staff station: the tags on the desk pad decoded (data model, item, set, AFI/EAS, locked
 * blocks, health), program / convert / secure / unsecure after a confirmation, batch mode with
 * progress, an inventory session, the exception queue, and, in `libedge demo` only, the demo
 * controls (/pages/about.json says whether this is the demo).
 *
 * - An idle page asks nothing that fails: the station list (GET /api/v1/staff) says whether
 *   the station has a batch or an inventory session, whose own GETs answer 404 until its
 *   first; they are asked only once there is one.
 * - The pad is read again every PAD_REFRESH_MS, never while an operation or a confirmation is
 *   open (a write owns the reader; a table that moves under the pointer is hard to use).
 * - Results and refusals are shown in the desk's own words plus the daemon's message (staff
 *   may see what went wrong and where).
 *
 * Not responsible for: the operations themselves (the daemon's staff station workflow).
 */
"use strict";

(() => {
  const { api, element, t } = LibEdge;
  const PAGE = "staff";
  const PAD_REFRESH_MS = 3000;
  const AFTER_WRITE_MS = 1200;
  /* A written tag is identified afresh at the desk reader's next inventory (every second): the
     pad is read again that soon after a write, so the table shows the result quickly. */
  const PROGRESS_REFRESH_MS = 2000;
  const EXCEPTIONS_REFRESH_MS = 10000;
  const DEMO_REFRESH_MS = 2000;
  const MODELS = ["iso28560-2", "iso28560-3", "iso28560-4", "3m", "blank", "unknown"];
  const DEMO_PLACES = ["pad", "staff", "gate", "shelf"];
  const $ = (id) => document.getElementById(id);

  let token = null;
  let station = null;
  let tags = null;   // null: not read yet
  let busy = 0;
  let batch = null;
  let inventory = null;
  let exceptions = [];
  let demo = null;
  let message = null;
  let problem = null;
  const timers = {};

  // --- helpers -------------------------------------------------------------------------------

  function base() {
    return `/api/v1/staff/${encodeURIComponent(station)}`;
  }

  function say(key, params) {
    message = { key, params };
    problem = null;
    renderOutcome();
  }

  function fail(error) {
    if (error.status === 401 || error.status === 403) {
      needToken(true);
      return;
    }
    problem = { code: error.code, message: error.message };
    message = null;
    renderOutcome();
  }

  function renderOutcome() {
    $("staff-message").hidden = !message;
    $("staff-message").textContent = message ? t(message.key, message.params) : "";
    $("staff-error").hidden = !problem;
    $("staff-error").textContent = problem
      ? t("staff.not_done", { message: problem.message }) : "";
  }

  async function during(work) {
    busy += 1;
    try {
      return await work();
    } finally {
      busy -= 1;
    }
  }

  function confirmAction(key, params) {
    const dialog = $("confirm");
    $("confirm-text").textContent = t(key, params);
    return new Promise((resolve) => {
      const done = (answer) => {
        $("confirm-ok").onclick = null;
        $("confirm-cancel").onclick = null;
        dialog.onclose = null;
        if (dialog.open) dialog.close();
        busy -= 1;
        resolve(answer);
      };
      busy += 1;
      $("confirm-ok").onclick = () => done(true);
      $("confirm-cancel").onclick = () => done(false);
      dialog.onclose = () => done(false);
      dialog.showModal();
      $("confirm-cancel").focus();
    });
  }

  function modelName(model) {
    return model && MODELS.includes(model) ? t(`staff.model.${model}`) : model || "–";
  }

  function securityText(security) {
    if (!security) return t("staff.security.unread");
    const afi = security.afi ? ` (AFI ${security.afi})` : "";
    if (security.secured === true) return t("staff.security.on") + afi;
    if (security.secured === false) return t("staff.security.off") + afi;
    return t("staff.security.unclear") + afi;
  }

  function securityBadge(tag) {
    const tone = tag.secured === true ? "ok" : tag.secured === false ? "neutral" : "attention";
    return element("span", { class: `badge ${tone}`, text: securityText(tag) });
  }

  // --- tags on the pad -----------------------------------------------------------------------

  function healthList(tag) {
    const health = tag.health || {};
    const lines = [health.read_error, health.security_error, health.lock_status_error,
      ...(health.problems || []), ...(health.warnings || [])].filter(Boolean);
    if (!lines.length) return element("span", { class: "badge ok", text: t("staff.healthy") });
    return element("ul", {}, ...lines.map((line) => element("li", { text: line })));
  }

  function tagActions(tag) {
    const actions = element("div", { class: "actions" });
    const label = tag.primary_item_id || tag.uid;
    if (tag.model === "blank") {
      actions.append(element("button", { type: "button", "data-action": "program",
        text: t("staff.action.program"),
        "aria-label": t("staff.action.program_for", { tag: tag.uid }),
        onclick: () => programThis(tag) }));
    } else if (tag.model && tag.model !== "unknown") {
      actions.append(element("button", { type: "button", "data-action": "convert",
        text: t("staff.action.convert"),
        "aria-label": t("staff.action.convert_for", { item: label }),
        onclick: () => convertTag(tag) }));
    }
    actions.append(
      element("button", { type: "button", "data-action": "secure",
        text: t("staff.action.secure"), "aria-label": t("staff.action.secure_for", { item: label }),
        onclick: () => setSecurity(tag, true) }),
      element("button", { type: "button", "data-action": "unsecure",
        text: t("staff.action.unsecure"),
        "aria-label": t("staff.action.unsecure_for", { item: label }),
        onclick: () => setSecurity(tag, false) }));
    return actions;
  }

  function tagRow(tag) {
    const set = tag.set_total ? t("staff.set_of", { part: tag.set_part ?? "?", total: tag.set_total })
      : "–";
    const locks = tag.locked_blocks === null || tag.locked_blocks === undefined ? "?"
      : tag.locked_blocks.length ? tag.locked_blocks.join(", ") : t("staff.locks.none");
    const item = tag.primary_item_id
      ? [element("strong", { text: tag.primary_item_id }),
        tag.owner_institution ? element("div", { class: "hint", text: tag.owner_institution })
          : null]
      : ["–"];
    return element("tr", { "data-uid": tag.uid, "data-model": tag.model || "" },
      element("th", { scope: "row" }, element("code", { text: tag.uid })),
      element("td", { text: modelName(tag.model) }),
      element("td", {}, ...item),
      element("td", { text: set }),
      element("td", {}, securityBadge(tag)),
      element("td", { text: locks }),
      element("td", {}, healthList(tag)),
      element("td", {}, tagActions(tag)));
  }

  function renderTags() {
    const focused = document.activeElement && document.activeElement.closest("#tags")
      ? document.activeElement : null;
    const keep = focused ? [focused.closest("tr").dataset.uid, focused.dataset.action] : null;
    const shown = tags || [];
    $("tags").replaceChildren(...shown.map(tagRow));
    $("pad-empty").hidden = tags === null || shown.length > 0;
    $("tags-table").hidden = shown.length === 0;
    if (keep) {   // a refresh must not throw the keyboard user's focus away
      const again = $("tags").querySelector(
        `tr[data-uid="${keep[0]}"] button[data-action="${keep[1]}"]`);
      if (again) again.focus();
    }
    const select = $("program-uid");
    const chosen = select.value;
    select.replaceChildren(element("option", { value: "", text: t("staff.the_blank_tag") }),
      ...shown.map((tag) => element("option", {
        value: tag.uid, text: `${tag.uid} – ${modelName(tag.model)}`,
      })));
    if ([...select.options].some((option) => option.value === chosen)) select.value = chosen;
  }

  async function refreshTags(next = PAD_REFRESH_MS) {
    clearTimeout(timers.tags);
    if (!busy && station) {
      try {
        const fresh = await api(`${base()}/tags`, { token });
        if (JSON.stringify(fresh) !== JSON.stringify(tags)) {
          tags = fresh;
          renderTags();
        }
      } catch (error) {
        if (error.status === 401 || error.status === 403) {
          needToken(true);
          return;
        }
      }
    }
    timers.tags = setTimeout(refreshTags, next);
  }

  // --- operations ----------------------------------------------------------------------------

  function programThis(tag) {
    $("program-uid").value = tag.uid;
    $("program-barcode").focus();
  }

  async function program(event) {
    event.preventDefault();
    const barcode = $("program-barcode").value.trim();
    if (!barcode) {
      fail({ code: "invalid_request", message: t("staff.barcode_needed") });
      $("program-barcode").focus();
      return;
    }
    const uid = $("program-uid").value;
    const part = $("program-part").value;
    const total = $("program-total").value;
    const yes = await confirmAction("staff.confirm.program",
      { item: barcode, tag: uid || t("staff.the_blank_tag") });
    if (!yes) return;
    const body = { barcode, secured: $("program-secured").checked,
                   overwrite: $("program-overwrite").checked };
    if (uid) body.uid = uid;
    if (part) body.set_part = Number(part);
    if (total) body.set_total = Number(total);
    await during(async () => {
      try {
        const result = await api(`${base()}/program`, { method: "POST", token, body });
        say("staff.done.program", { item: result.primary_item_id, tag: result.uid,
          security: securityText(result.security.after),
          locks: result.locked_blocks.join(", ") || t("staff.locks.none") });
        $("program-barcode").value = "";
      } catch (error) {
        fail(error);
      }
    });
    refreshTags(AFTER_WRITE_MS);
  }

  async function convertTag(tag) {
    const yes = await confirmAction("staff.confirm.convert",
      { item: tag.primary_item_id || "?", tag: tag.uid, model: modelName(tag.model) });
    if (!yes) return;
    await during(async () => {
      try {
        const result = await api(`${base()}/convert`, {
          method: "POST", token, body: { uid: tag.uid },
        });
        say("staff.done.convert", { item: result.primary_item_id, tag: result.uid,
          from: modelName(result.converted_from), to: modelName(result.data_model),
          security: securityText(result.security.after) });
      } catch (error) {
        fail(error);
      }
    });
    refreshTags(AFTER_WRITE_MS);
  }

  async function setSecurity(tag, secured) {
    const yes = await confirmAction(secured ? "staff.confirm.secure" : "staff.confirm.unsecure",
      { item: tag.primary_item_id || tag.uid });
    if (!yes) return;
    await during(async () => {
      try {
        const change = await api(`${base()}/security`, {
          method: "POST", token, body: { uid: tag.uid, secured },
        });
        say("staff.done.security", { tag: change.uid, security: securityText(change.after) });
      } catch (error) {
        fail(error);
      }
    });
    refreshTags(AFTER_WRITE_MS);
  }

  // --- batch ---------------------------------------------------------------------------------

  function renderBatch() {
    $("batch-progress").hidden = !batch;
    if (!batch) return;
    const total = batch.total ?? batch.done + batch.failed + batch.skipped + batch.pending;
    $("batch-bar").max = Math.max(total, 1);
    $("batch-bar").value = batch.done + batch.failed + batch.skipped;
    $("batch-summary").textContent = t("staff.batch_summary", {
      state: t(`staff.batch_state.${batch.state}`), done: batch.done, failed: batch.failed,
      skipped: batch.skipped, pending: batch.pending,
      next: batch.next_item || "–",
    });
    $("batch-notice").hidden = !batch.notice;
    $("batch-notice").textContent = batch.notice || "";
    $("batch-entries").replaceChildren(...batch.entries.slice(-20).reverse().map((entry) =>
      element("tr", {},
        element("td", {}, element("code", { text: entry.uid })),
        element("td", { text: entry.item || "–" }),
        element("td", { text: t(`staff.outcome.${entry.outcome}`) }),
        element("td", { text: entry.message || "" }))));
    $("batch-stop").disabled = batch.state !== "running";
  }

  /* The batch and inventory session of the station chosen, from its entry in the station list:
     the batch whole, the session's report asked when there is one. */
  function showProgress(stations) {
    const entry = stations.find((s) => s.name === station);
    clearTimeout(timers.batch);
    batch = entry ? entry.batch : null;
    renderBatch();
    if (batch && batch.state === "running") {
      timers.batch = setTimeout(refreshBatch, PROGRESS_REFRESH_MS);
    }
    clearTimeout(timers.inventory);
    inventory = null;
    renderInventory();
    if (entry && entry.inventory) refreshInventory();
  }

  async function refreshBatch() {
    clearTimeout(timers.batch);
    try {
      batch = await api(`${base()}/batch`, { token });
    } catch (error) {
      if (error.status !== 404) return;
      batch = null;
    }
    renderBatch();
    if (batch && batch.state === "running") {
      timers.batch = setTimeout(refreshBatch, PROGRESS_REFRESH_MS);
    }
  }

  async function startBatch(event) {
    event.preventDefault();
    const kind = $("batch-kind").value;
    const barcodes = $("batch-barcodes").value.split(/\s+/).filter(Boolean);
    if (kind === "program" && !barcodes.length) {
      fail({ code: "invalid_request", message: t("staff.barcode_needed") });
      $("batch-barcodes").focus();
      return;
    }
    const yes = await confirmAction("staff.confirm.batch",
      { what: t(`staff.batch_kind.${kind}`), count: barcodes.length });
    if (!yes) return;
    try {
      batch = await api(`${base()}/batch`, {
        method: "POST", token, body: { kind, barcodes, secured: $("batch-secured").checked },
      });
      say("staff.done.batch_started", {});
      renderBatch();
      timers.batch = setTimeout(refreshBatch, PROGRESS_REFRESH_MS);
    } catch (error) {
      fail(error);
    }
  }

  async function stopBatch() {
    try {
      batch = await api(`${base()}/batch`, { method: "DELETE", token });
      renderBatch();
    } catch (error) {
      fail(error);
    }
  }

  // --- inventory -----------------------------------------------------------------------------

  function itemLine(item) {
    const where = item.belongs_at ? ` → ${item.belongs_at}` : "";
    return element("li", { text: `${item.primary_item_id}${where}` });
  }

  function renderInventory() {
    $("inventory-report").hidden = !inventory;
    const open = inventory && !inventory.finished;
    $("inventory-finish").disabled = !open;
    $("inventory-start").disabled = Boolean(open);
    if (!inventory) return;
    $("inventory-summary").textContent = t(open ? "staff.inv.open" : "staff.inv.finished", {
      location: inventory.location || "–", ...inventory.counts,
    });
    $("inventory-seen").replaceChildren(...inventory.seen.map(itemLine));
    $("inventory-missing").replaceChildren(...inventory.missing.map(itemLine));
    $("inventory-misplaced").replaceChildren(...inventory.misplaced.map(itemLine));
    $("inventory-unknown").replaceChildren(...inventory.unknown.map((tag) =>
      element("li", { text: `${tag.uid}: ${tag.reason}` })));
  }

  async function refreshInventory() {
    clearTimeout(timers.inventory);
    try {
      inventory = await api(`${base()}/inventory`, { token });
    } catch (error) {
      inventory = null;
    }
    renderInventory();
    if (inventory && !inventory.finished) {
      timers.inventory = setTimeout(refreshInventory, PROGRESS_REFRESH_MS);
    }
  }

  async function startInventory(event) {
    event.preventDefault();
    const location = $("inventory-location").value.trim();
    try {
      inventory = await api(`${base()}/inventory`, {
        method: "POST", token, body: location ? { location } : {},
      });
      renderInventory();
      timers.inventory = setTimeout(refreshInventory, PROGRESS_REFRESH_MS);
    } catch (error) {
      fail(error);
    }
  }

  async function finishInventory() {
    const yes = await confirmAction("staff.confirm.inventory", {});
    if (!yes) return;
    try {
      inventory = await api(`${base()}/inventory/finish`, { method: "POST", token });
      say("staff.done.inventory", inventory.counts);
      renderInventory();
    } catch (error) {
      fail(error);
    }
  }

  // --- exceptions ----------------------------------------------------------------------------

  function renderExceptions() {
    $("exceptions-empty").hidden = exceptions.length > 0;
    $("exceptions-table").hidden = exceptions.length === 0;
    $("exceptions").replaceChildren(...exceptions.map((entry) => element("tr", {},
      element("td", { text: LibEdge.formatTime(entry.updated_at) }),
      element("td", { text: entry.primary_item_id || "–" }),
      element("td", { text: t(`staff.exception.${entry.state}`) }),
      element("td", { text: entry.detail || "" }))));
  }

  async function refreshExceptions() {
    clearTimeout(timers.exceptions);
    try {
      exceptions = (await api("/api/v1/exceptions", { token })).exceptions;
      renderExceptions();
    } catch (error) {
      // The store is busy (503) or the daemon unreachable: the table stays as it was.
    }
    timers.exceptions = setTimeout(refreshExceptions, EXCEPTIONS_REFRESH_MS);
  }

  // --- demo controls -------------------------------------------------------------------------

  function demoRow(prop) {
    const place = element("td", { "data-where": prop.place, text: t(`staff.demo.place.${prop.place}`) });
    if (prop.writes_fail) {
      place.append(element("div", {}, element("span", {
        class: "badge attention", text: t("staff.demo.writes_fail"),
      })));
    }
    const actions = element("div", { class: "actions" },
      ...DEMO_PLACES.map((where) => element("button", {
        type: "button", "data-place": where, disabled: prop.place === where,
        text: t(`staff.demo.to.${where}`),
        "aria-label": t(`staff.demo.to.${where}.for`, { item: prop.label }),
        onclick: () => moveProp(prop, where),
      })));
    if (prop.kind !== "blank" && prop.kind !== "card") {
      actions.append(element("button", {
        type: "button", class: "danger", "data-fail": "", disabled: prop.writes_fail,
        text: t("staff.demo.fail"), "aria-label": t("staff.demo.fail_for", { item: prop.label }),
        onclick: () => failWrites(prop),
      }));
    }
    return element("tr", { "data-prop": prop.id },
      element("th", { scope: "row", text: prop.label }), place,
      element("td", {}, actions));
  }

  function renderDemo() {
    $("demo").hidden = !demo;
    $("demo-link").hidden = !demo;
    if (!demo) return;
    const focused = document.activeElement && document.activeElement.closest("#demo-objects")
      ? document.activeElement : null;
    const keep = focused ? focused.closest("tr").dataset.prop : null;
    $("demo-objects").replaceChildren(...demo.objects.map(demoRow));
    if (keep) {
      const row = $("demo-objects").querySelector(`tr[data-prop="${keep}"]`);
      const again = row && row.querySelector("button:not([disabled])");
      if (again) again.focus();
    }
  }

  async function refreshDemo() {
    clearTimeout(timers.demo);
    let fresh;
    try {
      fresh = await api("/api/v1/demo", { token });
    } catch (error) {
      demo = null;   // no answer: no panel
      renderDemo();
      return;
    }
    // Rows are rebuilt only when something moved: a button must not vanish under the pointer.
    if (JSON.stringify(fresh) !== JSON.stringify(demo)) {
      demo = fresh;
      renderDemo();
    }
    timers.demo = setTimeout(refreshDemo, DEMO_REFRESH_MS);
  }

  async function moveProp(prop, where) {
    try {
      await api(`/api/v1/demo/objects/${encodeURIComponent(prop.id)}/place`, {
        method: "POST", token, body: { place: where },
      });
    } catch (error) {
      fail(error);
    }
    refreshDemo();
  }

  async function failWrites(prop) {
    try {
      await api(`/api/v1/demo/objects/${encodeURIComponent(prop.id)}/fail-writes`, {
        method: "POST", token,
      });
    } catch (error) {
      fail(error);
    }
    refreshDemo();
  }

  // --- start ---------------------------------------------------------------------------------

  function render() {
    renderOutcome();
    renderTags();
    renderBatch();
    renderInventory();
    renderExceptions();
    renderDemo();
  }

  function needToken(invalid = false) {
    for (const timer of Object.values(timers)) clearTimeout(timer);
    if (invalid) LibEdge.forgetToken(PAGE);
    $("content").hidden = true;
    LibEdge.signIn(PAGE, (fresh) => {
      token = fresh;
      connect();
    });
  }

  async function connect() {
    let stations;
    try {
      stations = await api("/api/v1/staff", { token });
    } catch (error) {
      if (error.status === 401 || error.status === 403) {
        needToken(true);
        return;
      }
      $("content").hidden = false;
      fail(error);
      return;
    }
    $("content").hidden = false;
    station = LibEdge.chooseStation(stations);
    if (LibEdge.demo) refreshDemo();
    refreshExceptions();
    if (!station) return;
    LibEdge.stream(token, {
      "staff.batch": (data) => {
        if (data.reader !== station) return;
        batch = data;
        renderBatch();
      },
      "staff.inventory": (data) => {
        if (data.reader === station) refreshInventory();
      },
      resync: () => refreshTags(),
    });
    refreshTags();
    showProgress(stations);
  }

  function wire() {
    $("program-form").addEventListener("submit", program);
    $("batch-form").addEventListener("submit", startBatch);
    $("batch-stop").addEventListener("click", stopBatch);
    $("inventory-form").addEventListener("submit", startInventory);
    $("inventory-finish").addEventListener("click", finishInventory);
    $("refresh-tags").addEventListener("click", () => refreshTags());
    $("station").addEventListener("change", async () => {
      station = $("station").value;
      refreshTags();
      try {
        showProgress(await api("/api/v1/staff", { token }));
      } catch (error) {
        fail(error);
      }
    });
  }

  LibEdge.boot({ page: PAGE, render, wire, signedOut: needToken, run: (fresh) => {
    token = fresh;
    connect();
  } });
})();
