// SPDX-License-Identifier: Apache-2.0
/*
 * Technical services at a staff station: acquisitions receiving (expected copies imported
 * from a CSV file, a delivery read item by item on the pad, accepted and closed), interlibrary
 * loan (receive and return the item on the pad, the loans open now) and migration campaigns
 * (create, run and stop here, progress, the tag health survey's report, finish).
 *
 * - Live: the delivery and the campaigns' progress come over the event stream
 *   (`staff.delivery`, `staff.campaign`, `staff.ill`); after a `resync` or a reconnection the
 *   page asks the API again rather than show a stale state. Nothing is polled.
 * - An idle page asks nothing that fails: the delivery is asked only when the station list
 *   (GET /api/v1/staff) says the station has one (its own GET answers 404 until its first).
 * - A refusal is shown under the control it is about (the API's `field`), else under the
 *   buttons that sent the request, with the daemon's own message: staff may see what went
 *   wrong and where. Every write to a tag asks for confirmation first, as at the staff station.
 *
 * Not responsible for: the services themselves (the daemon's acquisitions, ill and campaigns
 * workflows, /api/v1/staff/{station}/...).
 */
"use strict";

(() => {
  const { api, element, t } = LibEdge;
  const PAGE = "services";
  const REPORT_REFRESH_MS = 500;
  /* Progress events come per tag; the report (a heavier answer) is asked at most this often. */
  const ATTEMPTS = 3;   // the daemon's re-programming attempts per tag (acquisitions.ATTEMPTS)
  const MODELS = ["iso28560-2", "iso28560-3", "iso28560-4", "3m", "blank", "unknown"];
  const OUTCOMES = {
    received: { key: "services.outcome.received", tone: "ok" },
    unexpected: { key: "services.outcome.unexpected", tone: "attention" },
    duplicate: { key: "services.outcome.duplicate", tone: "attention" },
  };
  const DELIVERY_STATES = {
    reading: "services.delivery_state.reading",
    accepted: "services.delivery_state.accepted",
    closed: "services.delivery_state.closed",
  };
  const FINDINGS = {
    unreadable_blocks: ["services.finding.unreadable_blocks", "services.todo.unreadable_blocks"],
    weak_reads: ["services.finding.weak_reads", "services.todo.weak_reads"],
    default_passwords: ["services.finding.default_passwords", "services.todo.default_passwords"],
    blocked_by_locks: ["services.finding.blocked_by_locks", "services.todo.blocked_by_locks"],
  };
  const $ = (id) => document.getElementById(id);

  let token = null;
  let station = null;
  let source = null;          // the event stream
  let streamOpened = false;
  let live = null;            // null: not connected yet, true: live, false: reconnecting
  let expected = null;        // {expected, received}
  let delivery = null;        // the open or last delivery, null: none
  let padTags = [];
  let loans = [];
  let campaigns = [];
  let report = null;          // the campaign report shown
  let reportId = null;
  let reportTimer = null;
  const rowProblems = {};     // "loan:<owner>:<item>" / "campaign:<id>" -> {message, told}
  const announcements = {};   // live region id -> {key, params}
  const busy = new Set();     // the scopes with a request on its way

  // --- helpers -------------------------------------------------------------------------------

  function base() {
    return `/api/v1/staff/${encodeURIComponent(station)}`;
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

  function badge(tone, text) {
    return element("span", { class: `badge ${tone}`, text });
  }

  function dash(value) {
    return value === null || value === undefined || value === "" ? "–" : String(value);
  }

  function authFailed(error) {
    if (error.status === 401 || error.status === 403) {
      needToken(true);
      return true;
    }
    return false;
  }

  function setDescribedBy(control, id, on) {
    const ids = (control.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean)
      .filter((other) => other !== id);
    if (on) ids.push(id);
    if (ids.length) control.setAttribute("aria-describedby", ids.join(" "));
    else control.removeAttribute("aria-describedby");
  }

  function clearProblems(scope) {
    for (const note of document.querySelectorAll(`[data-problem="${scope}"]`)) note.remove();
    for (const control of document.querySelectorAll(`[data-problem-control="${scope}"]`)) {
      control.removeAttribute("aria-invalid");
      control.removeAttribute("data-problem-control");
      setDescribedBy(control, `${scope}-problem`, false);
    }
  }

  /* The refusal under the control its `field` names (["body.name", element] pairs: the field
     or one of its items/lines), else under `fallback` (the buttons that sent the request). */
  function showProblem(scope, error, fields, fallback) {
    if (authFailed(error)) return;
    clearProblems(scope);
    const field = error.field || "";
    const match = fields.find(([name]) => field === name
      || [".", "[", ":"].some((mark) => field.startsWith(name + mark)));
    const control = match ? match[1] : null;
    const note = element("p", { class: "error field-error", role: "alert",
      id: `${scope}-problem`, "data-problem": scope, "data-message": error.message,
      text: t("services.not_done", { message: error.message }) });
    (control || fallback).after(note);
    if (control) {
      control.setAttribute("aria-invalid", "true");
      control.setAttribute("data-problem-control", scope);
      setDescribedBy(control, note.id, true);
    }
  }

  function pageProblem(error) {
    if (error && authFailed(error)) return;
    $("page-error").hidden = !error;
    $("page-error").textContent = error ? t("services.not_done", { message: error.message })
      : "";
  }

  /* A success message in a live region, kept as key and values: a language switch
     re-renders it. */
  function announce(id, key, params) {
    announcements[id] = key ? { key, params } : null;
    renderAnnouncement(id);
  }

  function renderAnnouncement(id) {
    const said = announcements[id];
    $(id).hidden = !said;
    $(id).textContent = said ? t(said.key, said.params) : "";
  }

  function renderProblems() {
    for (const note of document.querySelectorAll("[data-problem]")) {
      note.textContent = t("services.not_done", { message: note.dataset.message });
    }
  }

  async function during(scope, work) {
    busy.add(scope);
    render();
    try {
      return await work();
    } finally {
      busy.delete(scope);
      render();
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
        resolve(answer);
      };
      $("confirm-ok").onclick = () => done(true);
      $("confirm-cancel").onclick = () => done(false);
      dialog.onclose = () => done(false);
      dialog.showModal();
      $("confirm-cancel").focus();
    });
  }

  // --- receiving: expected copies --------------------------------------------------------------

  function renderExpected() {
    $("expected-counts").textContent = expected
      ? t("services.expected_counts", { expected: expected.expected,
        received: expected.received })
      : "";
    $("expected-import").disabled = busy.has("expected");
  }

  async function refreshExpected() {
    try {
      expected = await api(`${base()}/acquisitions/expected`, { token });
    } catch (error) {
      if (authFailed(error)) return;
      expected = null;
    }
    renderExpected();
  }

  async function importExpected(event) {
    event.preventDefault();
    clearProblems("expected");
    announce("expected-result", null);
    const file = $("expected-file").files[0];
    const pasted = $("expected-csv").value;
    const fields = [["body.csv", file ? $("expected-file") : $("expected-csv")]];
    if (file && pasted.trim()) {
      showProblem("expected", { message: t("services.expected_both"), field: "body.csv" },
        fields, $("expected-actions"));
      return;
    }
    if (!file && !pasted.trim()) {
      showProblem("expected", { message: t("services.expected_needed"), field: "body.csv" },
        fields, $("expected-actions"));
      return;
    }
    await during("expected", async () => {
      let csv;
      try {
        csv = file ? await file.text() : pasted;
      } catch (error) {
        showProblem("expected", { message: t("services.expected_unreadable",
          { file: file.name }), field: "body.csv" }, fields, $("expected-actions"));
        return;
      }
      try {
        const result = await api(`${base()}/acquisitions/expected`, {
          method: "POST", token, body: { csv } });
        announce("expected-result", result.kept.length ? "services.expected_stored_kept"
          : "services.expected_stored", { stored: result.stored, count: result.kept.length,
          items: result.kept.join(", ") });
        $("expected-file").value = "";
        $("expected-csv").value = "";
      } catch (error) {
        showProblem("expected", error, fields, $("expected-actions"));
      }
    });
    refreshExpected();
  }

  // --- receiving: the delivery -----------------------------------------------------------------

  function libraryData(tag) {
    if (tag.outcome !== "received") return badge("neutral", t("services.left_as_it_came"));
    if (tag.programmed) return badge("ok", t("services.programmed"));
    if (tag.error) {
      return element("div", {}, badge("danger", t("services.not_programmed")),
        element("p", { class: "hint", text: t("services.attempt", {
          attempts: tag.attempts, of: ATTEMPTS, error: tag.error }) }));
    }
    if (delivery.state === "closed") return badge("attention", t("services.not_programmed"));
    if (delivery.state === "accepted") {
      return badge("attention", t("services.waiting_on_pad"));
    }
    return badge("neutral", t("services.after_accepting"));
  }

  function deliveryRow(tag) {
    const outcome = OUTCOMES[tag.outcome] || { key: null, tone: "neutral" };
    const copy = tag.primary_item_id
      ? [element("strong", { text: tag.primary_item_id }),
        tag.title ? element("div", { text: tag.title }) : null,
        tag.order_line ? element("div", { class: "hint",
          text: t("services.order_line", { line: tag.order_line }) }) : null]
      : ["–"];
    return element("tr", { "data-uid": tag.uid, "data-outcome": tag.outcome,
      "data-programmed": String(tag.programmed) },
      element("th", { scope: "row" }, element("code", { text: tag.uid }),
        element("div", { class: "hint", text: modelName(tag.data_model) })),
      element("td", {}, badge(outcome.tone, outcome.key ? t(outcome.key) : tag.outcome),
        tag.reason ? element("p", { class: "hint", text: tag.reason }) : null),
      element("td", {}, ...copy),
      element("td", { text: dash(tag.supplier_identifier) }),
      element("td", { text: dash(tag.order_number) }),
      element("td", { text: dash(tag.supplier_invoice_number) }),
      element("td", { text: dash(tag.supply_chain_stage) }),
      element("td", { text: dash(tag.gs1_product_identifier) }),
      element("td", {}, libraryData(tag)));
  }

  function copyLine(copy) {
    const line = copy.order_line ? ` · ${t("services.order_line", { line: copy.order_line })}`
      : "";
    return element("li", { "data-item": copy.primary_item_id, text: t("services.missing_copy", {
      item: copy.primary_item_id, title: copy.title || "–", order: copy.order_number }) + line });
  }

  function renderDelivery() {
    const open = Boolean(delivery) && delivery.state !== "closed";
    $("delivery-start").disabled = open || busy.has("delivery-start");
    $("delivery").hidden = !delivery;
    if (!delivery) return;
    const counts = delivery.counts;
    $("delivery").dataset.state = delivery.state;
    $("delivery-now-title").textContent = t(open ? "services.delivery_now"
      : "services.delivery_last");
    $("delivery-summary").textContent = t("services.delivery_summary", {
      state: t(DELIVERY_STATES[delivery.state] || delivery.state),
      orders: delivery.orders.join(", ") || "–", received: counts.received,
      unexpected: counts.unexpected, duplicates: counts.duplicates, missing: counts.missing,
      unread: counts.unread });
    const accepting = delivery.state === "accepted" || counts.programmed > 0;
    $("accept-progress").hidden = !accepting;
    $("accept-bar").max = Math.max(counts.received, 1);
    $("accept-bar").value = counts.programmed;
    $("accept-text").textContent = t("services.accept_text", { programmed: counts.programmed,
      received: counts.received, failed: counts.failed });
    const retry = delivery.state === "accepted" && counts.programmed < counts.received;
    $("delivery-accept").textContent = t(retry ? "services.accept_again" : "services.accept");
    $("delivery-accept").disabled = !(delivery.state === "reading" || retry)
      || busy.has("delivery");
    $("delivery-close").disabled = !open || busy.has("delivery");
    $("delivery-actions").hidden = !open;
    $("delivery-closed").hidden = open;
    $("delivery-closed").textContent = open ? "" : t("services.delivery_closed", {
      received: counts.programmed, unexpected: counts.unexpected, missing: counts.missing,
      duplicates: counts.duplicates, failed: counts.received - counts.programmed });
    $("delivery-empty").hidden = delivery.tags.length > 0;
    $("delivery-table").hidden = delivery.tags.length === 0;
    $("delivery-tags").replaceChildren(...delivery.tags.map(deliveryRow));
    $("delivery-missing-part").hidden = delivery.missing.length === 0;
    $("delivery-missing").replaceChildren(...delivery.missing.map(copyLine));
    $("delivery-unread-part").hidden = delivery.unread.length === 0;
    $("delivery-unread").replaceChildren(...delivery.unread.map((tag) =>
      element("li", {}, element("code", { text: tag.uid }), `: ${tag.error}`)));
  }

  async function refreshDelivery() {
    try {
      const entry = (await api("/api/v1/staff", { token })).find((s) => s.name === station);
      delivery = entry && entry.delivery
        ? await api(`${base()}/acquisitions/delivery`, { token }) : null;
    } catch (error) {
      if (authFailed(error)) return;
      delivery = null;
    }
    renderDelivery();
  }

  async function startDelivery(event) {
    event.preventDefault();
    clearProblems("delivery-start");
    const body = {
      orders: $("delivery-orders").value.split(/\r?\n/).map((o) => o.trim()).filter(Boolean),
      accept_on_arrival: $("delivery-on-arrival").checked,
    };
    const supplier = $("delivery-supplier").value.trim();
    const invoice = $("delivery-invoice").value.trim();
    if (supplier) body.supplier_identifier = supplier;
    if (invoice) body.supplier_invoice_number = invoice;
    await during("delivery-start", async () => {
      try {
        delivery = await api(`${base()}/acquisitions/deliveries`, { method: "POST", token,
          body });
        clearProblems("delivery");
      } catch (error) {
        showProblem("delivery-start", error, [
          ["body.orders", $("delivery-orders")],
          ["body.supplier_identifier", $("delivery-supplier")],
          ["body.supplier_invoice_number", $("delivery-invoice")],
        ], $("delivery-start-actions"));
      }
    });
  }

  async function acceptDelivery() {
    const yes = await confirmAction("services.confirm.accept",
      { count: delivery.counts.received - delivery.counts.programmed });
    if (!yes) return;
    clearProblems("delivery");
    await during("delivery", async () => {
      try {
        delivery = await api(`${base()}/acquisitions/delivery/accept`, { method: "POST", token });
      } catch (error) {
        showProblem("delivery", error, [], $("delivery-actions"));
      }
    });
  }

  async function closeDelivery() {
    const yes = await confirmAction("services.confirm.close",
      { missing: delivery.counts.missing });
    if (!yes) return;
    clearProblems("delivery");
    await during("delivery", async () => {
      try {
        delivery = await api(`${base()}/acquisitions/delivery/close`, { method: "POST", token });
      } catch (error) {
        showProblem("delivery", error, [], $("delivery-actions"));
      }
    });
    refreshExpected();
  }

  // --- interlibrary loan -----------------------------------------------------------------------

  function renderPad() {
    const select = $("ill-uid");
    const chosen = select.value;
    select.replaceChildren(element("option", { value: "", text: t("services.only_tag") }),
      ...padTags.map((tag) => element("option", { value: tag.uid,
        text: [tag.uid, modelName(tag.model), tag.primary_item_id, tag.owner_institution]
          .filter(Boolean).join(" – ") })));
    if ([...select.options].some((option) => option.value === chosen)) select.value = chosen;
  }

  async function refreshPad() {
    try {
      padTags = await api(`${base()}/tags`, { token });
    } catch (error) {
      if (authFailed(error)) return;
      padTags = [];
    }
    renderPad();
  }

  function illOutcome(result) {
    const tag = result.tag_written ? t("services.ill_tag_written")
      : t("services.ill_tag_left", { note: result.tag_note || "–" });
    if (result.action === "received") {
      announce("ill-result", "services.ill_received", { item: result.primary_item_id,
        owner: result.owner_institution, tag,
        security: securityText(result.security && result.security.after) });
    } else {
      announce("ill-result", "services.ill_returned", { item: result.primary_item_id,
        owner: result.owner_institution, tag });
    }
  }

  const ILL_FIELDS = () => [
    ["body.uid", $("ill-uid")],
    ["body.transaction_number", $("ill-transaction")],
    ["body.owner_institution", $("ill-owner")],
  ];

  async function receiveIll(event) {
    event.preventDefault();
    clearProblems("ill");
    announce("ill-result", null);
    const uid = $("ill-uid").value;
    const yes = await confirmAction("services.confirm.ill_receive",
      { tag: uid || t("services.only_tag") });
    if (!yes) return;
    const body = { secured: $("ill-secured").checked };
    const transaction = $("ill-transaction").value.trim();
    const owner = $("ill-owner").value.trim();
    if (uid) body.uid = uid;
    if (transaction) body.transaction_number = transaction;
    if (owner) body.owner_institution = owner;
    await during("ill", async () => {
      try {
        illOutcome(await api(`${base()}/ill/receive`, { method: "POST", token, body }));
        $("ill-transaction").value = "";
        $("ill-owner").value = "";
      } catch (error) {
        showProblem("ill", error, ILL_FIELDS(), $("ill-actions"));
      }
    });
    refreshLoans();
    refreshPad();
  }

  async function returnIll(uid, where) {
    const yes = await confirmAction("services.confirm.ill_return",
      { tag: uid || t("services.only_tag") });
    if (!yes) return;
    clearProblems("ill");
    announce("ill-result", null);
    await during("ill", async () => {
      try {
        illOutcome(await api(`${base()}/ill/return`, { method: "POST", token,
          body: uid ? { uid } : {} }));
        if (where) delete rowProblems[where];
      } catch (error) {
        if (!where) showProblem("ill", error, ILL_FIELDS(), $("ill-actions"));
        else if (!authFailed(error)) rowProblems[where] = { message: error.message, told: false };
      }
    });
    refreshLoans();
    refreshPad();
  }

  /* A row's refusal; an alert the first time it is shown only (rows are rebuilt on every
     live update, and a screen reader would announce it again each time). */
  function rowProblem(where) {
    const problem = rowProblems[where];
    if (!problem) return null;
    const note = element("p", { class: "error", role: problem.told ? null : "alert",
      text: t("services.not_done", { message: problem.message }) });
    problem.told = true;
    return note;
  }

  function loanRow(loan) {
    const where = `loan:${loan.owner_institution}:${loan.primary_item_id}`;
    const actions = element("div", { class: "actions" });
    if (loan.uid) {
      actions.append(element("button", { type: "button", "data-action": "return",
        disabled: busy.has("ill"), text: t("services.ill_return_short"),
        "aria-label": t("services.ill_return_item", { item: loan.primary_item_id,
          owner: loan.owner_institution }),
        onclick: () => returnIll(loan.uid, where) }));
    }
    const problem = rowProblem(where);
    return element("tr", { "data-item": loan.primary_item_id },
      element("th", { scope: "row", text: loan.primary_item_id }),
      element("td", { text: loan.owner_institution }),
      element("td", { text: dash(loan.transaction_number) }),
      element("td", {}, loan.uid ? element("code", { text: loan.uid }) : "–"),
      element("td", { text: t(loan.tag_written ? "services.yes" : "services.no") }),
      element("td", { text: LibEdge.formatTime(loan.received_at) }),
      element("td", {}, actions, problem));
  }

  function renderLoans() {
    $("loans-empty").hidden = loans.length > 0;
    $("loans-table").hidden = loans.length === 0;
    $("loans").replaceChildren(...loans.map(loanRow));
    $("ill-receive").disabled = busy.has("ill");
    $("ill-return").disabled = busy.has("ill");
  }

  async function refreshLoans() {
    try {
      loans = (await api(`${base()}/ill`, { token })).loans;
    } catch (error) {
      if (authFailed(error)) return;
    }
    renderLoans();
  }

  // --- migration campaigns ---------------------------------------------------------------------

  function campaignState(campaign) {
    if (campaign.state === "finished") return badge("neutral", t("services.campaign.finished"));
    if (campaign.running) return badge("ok", t("services.campaign.running"));
    return badge("attention", t("services.campaign.active"));
  }

  const CAMPAIGN_BUTTONS = {
    report: ["services.campaign.report", "services.campaign.report_for"],
    run: ["services.campaign.run", "services.campaign.run_for"],
    stop: ["services.campaign.stop", "services.campaign.stop_for"],
    finish: ["services.campaign.finish", "services.campaign.finish_for"],
  };

  function campaignButton(campaign, action, onclick) {
    const [text, label] = CAMPAIGN_BUTTONS[action];
    return element("button", { type: "button", "data-action": action,
      disabled: busy.has(`campaign:${campaign.campaign_id}`),
      text: t(text), "aria-label": t(label, { name: campaign.name }), onclick });
  }

  function campaignRow(campaign) {
    const where = `campaign:${campaign.campaign_id}`;
    const counts = campaign.counts;
    const actions = element("div", { class: "actions" },
      campaignButton(campaign, "report", () => showReport(campaign.campaign_id, true)));
    if (campaign.state === "active") {
      actions.append(campaign.running
        ? campaignButton(campaign, "stop", () => stopCampaign(campaign))
        : campaignButton(campaign, "run", () => runCampaign(campaign)),
      campaignButton(campaign, "finish", () => finishCampaign(campaign)));
    }
    const problem = rowProblem(where);
    const number = (name, value) => element("td", { class: "number", "data-count": name,
      text: dash(value) });
    return element("tr", { "data-campaign": campaign.campaign_id, "data-state": campaign.state,
      "data-running": String(campaign.running) },
      element("th", { scope: "row", text: campaign.name }),
      element("td", {}, campaignState(campaign)),
      element("td", { text: campaign.source_models.map(modelName).join(", ") }),
      number("converted", counts.converted), number("failed", counts.failed),
      number("already", counts.already), number("skipped", counts.skipped),
      number("pending", campaign.pending_estimate),
      element("td", {}, actions, problem));
  }

  function renderCampaigns() {
    const focused = document.activeElement && document.activeElement.closest("#campaigns")
      ? document.activeElement : null;
    const keep = focused ? [focused.closest("tr").dataset.campaign, focused.dataset.action]
      : null;
    $("campaigns-empty").hidden = campaigns.length > 0;
    $("campaigns-table").hidden = campaigns.length === 0;
    $("campaigns").replaceChildren(...campaigns.map(campaignRow));
    if (keep) {   // a live update must not throw the keyboard user's focus away
      const row = $("campaigns").querySelector(`tr[data-campaign="${keep[0]}"]`);
      const again = row && (row.querySelector(`button[data-action="${keep[1]}"]`)
        || row.querySelector("button"));
      if (again) again.focus();
    }
    $("campaign-create").disabled = busy.has("campaign-create");
  }

  async function refreshCampaigns() {
    try {
      campaigns = await api(`${base()}/campaigns`, { token });
    } catch (error) {
      if (authFailed(error)) return;
    }
    renderCampaigns();
  }

  /* A campaign's fresh progress into the list; `running` is this station's (events from any
     station carry the box-wide counts but not whether it runs here). */
  function updateCampaign(progress, running) {
    const index = campaigns.findIndex((c) => c.campaign_id === progress.campaign_id);
    const known = index >= 0 ? campaigns[index] : null;
    const fresh = { ...progress,
      running: running === undefined ? Boolean(known && known.running) : running };
    delete fresh.reader;
    if (index >= 0) campaigns[index] = fresh;
    else campaigns.unshift(fresh);
    renderCampaigns();
  }

  function offerSourceModels(libraryModel) {
    // A campaign converts other models to the library's: its own is no source.
    for (const box of document.querySelectorAll('input[name="source-model"]')) {
      const own = box.value === libraryModel;
      box.closest("label").hidden = own;
      if (own) box.checked = false;
    }
  }

  async function createCampaign(event) {
    event.preventDefault();
    clearProblems("campaign-create");
    announce("campaign-result", null);
    const body = {
      name: $("campaign-name").value.trim(),
      source_models: [...document.querySelectorAll('input[name="source-model"]:checked')]
        .map((box) => box.value),
      allow_loss: $("campaign-allow-loss").checked,
    };
    const fields = [["body.name", $("campaign-name")],
      ["body.source_models", $("campaign-models")],
      ["body.estimate", $("campaign-estimate")]];
    if ($("campaign-estimate").validity.badInput) {
      showProblem("campaign-create", { message: t("services.estimate_not_number"),
        field: "body.estimate" }, fields, $("campaign-create-actions"));
      return;
    }
    const estimate = $("campaign-estimate").value;
    if (estimate !== "") body.estimate = Number(estimate);
    await during("campaign-create", async () => {
      try {
        const created = await api(`${base()}/campaigns`, { method: "POST", token, body });
        updateCampaign(created, created.running);
        announce("campaign-result", "services.campaign_created", { name: created.name });
        $("campaign-form").reset();
        showReport(created.campaign_id, false);
      } catch (error) {
        showProblem("campaign-create", error, fields, $("campaign-create-actions"));
      }
    });
  }

  async function campaignAction(campaign, path, body) {
    const where = `campaign:${campaign.campaign_id}`;
    busy.add(where);
    renderCampaigns();
    try {
      const answer = await api(`${base()}/campaigns/${encodeURIComponent(campaign.campaign_id)}`
        + path, { method: "POST", token, body });
      delete rowProblems[where];
      return answer;
    } catch (error) {
      if (!authFailed(error)) rowProblems[where] = { message: error.message, told: false };
      return null;
    } finally {
      busy.delete(where);
      renderCampaigns();
    }
  }

  async function runCampaign(campaign) {
    const yes = await confirmAction("services.confirm.run", { name: campaign.name });
    if (!yes) return;
    const progress = await campaignAction(campaign, "/run",
      { check_passwords: $("campaign-check-passwords").checked });
    if (progress) {
      updateCampaign(progress, progress.running);
      showReport(campaign.campaign_id, false);
    }
  }

  async function stopCampaign(campaign) {
    const progress = await campaignAction(campaign, "/stop");
    if (progress) updateCampaign(progress, progress.running);
  }

  async function finishCampaign(campaign) {
    const yes = await confirmAction("services.confirm.finish", { name: campaign.name });
    if (!yes) return;
    const final = await campaignAction(campaign, "/finish");
    if (final) {
      updateCampaign(final, final.running);
      reportId = final.campaign_id;
      report = final;
      renderReport();
    }
  }

  function findingDetail(kind, entry) {
    if (kind === "weak_reads") {
      return t("services.read_attempts", { count: entry.read_attempts });
    }
    if (entry.blocks === undefined) return "–";
    return entry.blocks && entry.blocks.length
      ? t("services.blocks", { blocks: entry.blocks.join(", ") }) : "–";
  }

  function renderReport() {
    $("report").hidden = !report;
    if (!report) return;
    const counts = report.counts;
    $("report").dataset.campaign = report.campaign_id;
    $("report-title").textContent = t("services.report_title", { name: report.name });
    $("report-summary").textContent = t(report.estimate === null
      ? "services.report_summary_no_estimate" : "services.report_summary", {
      target: modelName(report.target_model), converted: counts.converted,
      failed: counts.failed, already: counts.already, skipped: counts.skipped,
      pending: dash(report.pending_estimate), estimate: dash(report.estimate) });
    $("report-bar").hidden = report.estimate === null;
    $("report-bar").max = Math.max(report.estimate || 0, 1);
    $("report-bar").value = counts.converted + counts.already;
    $("by-model").replaceChildren(...Object.entries(report.by_model).map(([model, done]) =>
      element("li", { text: t("services.by_model", { model: modelName(model),
        converted: done.converted, failed: done.failed }) })));
    const rows = [];
    for (const [kind, [finding, todo]] of Object.entries(FINDINGS)) {
      for (const entry of report.health[kind] || []) {
        rows.push(element("tr", { "data-finding": kind },
          element("th", { scope: "row", text: t(finding) }),
          element("td", {}, element("code", { text: entry.uid })),
          element("td", { text: dash(entry.primary_item_id) }),
          element("td", { text: findingDetail(kind, entry) }),
          element("td", { text: t(todo) })));
      }
    }
    $("health").replaceChildren(...rows);
    $("health-table").hidden = rows.length === 0;
    $("health-empty").hidden = rows.length > 0;
    const unchecked = report.health.password_not_checked;
    $("health-unchecked").hidden = !unchecked;
    $("health-unchecked").textContent = unchecked
      ? t("services.health_unchecked", { count: unchecked }) : "";
    $("failures").replaceChildren(...report.failures.map((failure) => element("tr", {},
      element("th", { scope: "row" }, element("code", { text: failure.uid })),
      element("td", { text: dash(failure.primary_item_id) }),
      element("td", { text: modelName(failure.source_model) }),
      element("td", { class: "number", text: String(failure.attempts) }),
      element("td", { text: dash(failure.detail) }))));
    $("failures-table").hidden = report.failures.length === 0;
    $("failures-empty").hidden = report.failures.length > 0;
  }

  async function showReport(campaignId, focus) {
    reportId = campaignId;
    clearTimeout(reportTimer);
    try {
      report = await api(`${base()}/campaigns/${encodeURIComponent(campaignId)}`, { token });
      updateCampaign(report, report.running);
    } catch (error) {
      if (authFailed(error)) return;
      pageProblem(error);
    }
    renderReport();
    if (focus) {
      $("report-title").tabIndex = -1;
      $("report-title").focus();
    }
  }

  function reportLater(campaignId) {
    if (campaignId !== reportId) return;
    clearTimeout(reportTimer);
    reportTimer = setTimeout(() => showReport(campaignId, false), REPORT_REFRESH_MS);
  }

  // --- live ------------------------------------------------------------------------------------

  function listen() {
    if (source) source.close();
    streamOpened = false;
    source = LibEdge.stream(token, {
      open: () => {
        live = true;
        renderLive();
        if (streamOpened) loadAll();   // reconnected: what happened meanwhile was missed
        streamOpened = true;
      },
      error: () => {
        live = false;
        renderLive();
      },
      "staff.delivery": (data) => {
        if (data.reader !== station) return;
        delivery = data;
        renderDelivery();
        refreshExpected();
      },
      "staff.campaign": (data) => {
        updateCampaign(data);
        reportLater(data.campaign_id);
      },
      "staff.ill": () => refreshLoans(),
      resync: () => loadAll(),
    });
  }

  function renderLive() {
    $("live-state").textContent = live === null ? ""
      : t(live ? "services.live.on" : "services.live.off");
  }

  // --- start -----------------------------------------------------------------------------------

  function render() {
    renderLive();
    renderProblems();
    for (const id of Object.keys(announcements)) renderAnnouncement(id);
    renderExpected();
    renderDelivery();
    renderPad();
    renderLoans();
    renderCampaigns();
    renderReport();
  }

  function loadAll() {
    refreshExpected();
    refreshDelivery();
    refreshLoans();
    refreshPad();
    refreshCampaigns();
    if (reportId) showReport(reportId, false);
  }

  function needToken(invalid = false) {
    if (source) source.close();
    source = null;
    clearTimeout(reportTimer);
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
      if (authFailed(error)) return;
      $("content").hidden = false;
      pageProblem(error);
      return;
    }
    $("content").hidden = false;
    pageProblem(null);
    station = LibEdge.chooseStation(stations);
    if (stations.length) offerSourceModels(stations[0].data_model);
    for (const part of document.querySelectorAll("#content > section")) {
      part.hidden = !station;
    }
    if (!station) return;
    listen();
    loadAll();
  }

  function wire() {
    $("expected-form").addEventListener("submit", importExpected);
    $("delivery-form").addEventListener("submit", startDelivery);
    $("delivery-accept").addEventListener("click", acceptDelivery);
    $("delivery-close").addEventListener("click", closeDelivery);
    $("ill-form").addEventListener("submit", receiveIll);
    $("ill-return").addEventListener("click", () => returnIll($("ill-uid").value, null));
    $("ill-read").addEventListener("click", refreshPad);
    $("campaign-form").addEventListener("submit", createCampaign);
    $("station").addEventListener("change", () => {
      station = $("station").value;
      delivery = null;
      report = null;
      reportId = null;
      for (const scope of ["expected", "delivery-start", "delivery", "ill", "campaign-create"]) {
        clearProblems(scope);
      }
      render();
      loadAll();
    });
  }

  LibEdge.boot({ page: PAGE, render, wire, signedOut: needToken, run: (fresh) => {
    token = fresh;
    connect();
  } });
})();
