// SPDX-License-Identifier: Apache-2.0
/*
 * The self-check kiosk: welcome -> identify (card scanned, on the pad or typed; PIN pad) ->
 * the items appear as they are placed on the pad, each with its title and state -> receipt ->
 * back to the welcome screen by itself. "Return" opens a check-in visit with sort guidance.
 * "My loans" (a check-out visit on-line) lists the patron's loans with due dates, overdue ones
 * marked, each with a Renew button; the result shows in the loan's row: the new due date, or
 * why not (the library system's own words for the patron, else a catalogue text).
 *
 * - A barcode scanner is a keyboard: a fast line of characters ending with Enter. In the card
 *   field it moves on to the PIN; on the welcome screen it starts borrowing with that card.
 * - Items come live from the event stream (kind "item" of this visit) and, as a safety net, a
 *   GET of the visit every SESSION_POLL_MS.
 * - A patron never sees a technical message: states and errors are mapped to catalogue texts
 *   (kiosk.item.*, kiosk.error.*) by their code, never the server's words.
 * - Privacy: the card number and PIN live in the form fields only until the visit opens; every
 *   way back to the welcome screen clears them, and the next patron gets the default language.
 *
 * Not responsible for: what happens to an item (the daemon's self-check workflow).
 */
"use strict";

(() => {
  const { api, element, t } = LibEdge;
  const PAGE = "kiosk";
  const LOGOUT_AFTER_S = 20;
  const IDENTIFY_IDLE_S = 60;
  const ACTIVITY_EVERY_MS = 15000;
  const SESSION_POLL_MS = 4000;
  const PAD_POLL_MS = 15000;
  const RETRY_MS = 10000;
  const SCAN_GAP_MS = 60;
  const SCAN_MIN_CHARS = 4;
  const OPEN_ERRORS = {
    pin_wrong: "kiosk.error.pin_wrong",
    pin_required: "kiosk.error.pin_required",
    patron_refused: "kiosk.error.patron_refused",
    patron_required: "kiosk.error.patron_required",
    ils_unreachable: "kiosk.error.ils_unreachable",
    session_active: "kiosk.error.session_active",
    invalid_request: "kiosk.error.check_input",
    offline: "kiosk.error.offline",
  };
  const TONES = {
    done: "ok", waiting: "working", processing: "working", updating_tag: "working",
    incomplete_set: "attention",
    refused: "attention", put_back: "attention", needs_staff: "attention", not_ours: "attention",
  };
  const $ = (id) => document.getElementById(id);

  let token = null;
  let defaultLanguage = "en";
  let screen = null;
  let session = null;
  let items = new Map();
  let rows = new Map();
  let receipt = null;
  let receiptReason = null;
  let ending = false;
  let lastActivity = 0;
  let padState = null;
  let events = null;
  let welcomeProblem = null;
  let identifyError = null;
  let sessionError = null;
  let account = null;
  let accountLoading = false;
  let accountError = null;
  let loanRows = new Map();
  const renewals = new Map();
  const timers = { poll: null, countdown: null, pad: null, idle: null };
  const scan = { text: "", last: 0 };

  // --- screens -------------------------------------------------------------------------------

  function show(name, focusId) {
    for (const section of document.querySelectorAll("main > section")) {
      section.hidden = section.id !== `screen-${name}`;
    }
    screen = name;
    const target = $(focusId || `${name}-title`);
    if (target) target.focus();
  }

  function stopTimers() {
    for (const name of Object.keys(timers)) {
      clearInterval(timers[name]);
      timers[name] = null;
    }
  }

  async function toWelcome() {
    stopTimers();
    session = null;
    receipt = null;
    receiptReason = null;
    identifyError = null;
    sessionError = null;
    items = new Map();
    rows = new Map();
    $("items").replaceChildren();
    forgetAccount();
    $("card").value = "";
    $("pin").value = "";
    if (LibEdge.language !== defaultLanguage) await LibEdge.setLanguage(defaultLanguage);
    show("welcome");
    await refreshPad();
    timers.pad = setInterval(refreshPad, PAD_POLL_MS);
  }

  function renderWelcome() {
    const down = padState && !padState.connected;
    welcomeProblem = down ? "kiosk.welcome.pad_down" : welcomeProblem;
    $("welcome-problem").hidden = !welcomeProblem;
    $("welcome-problem").textContent = welcomeProblem ? t(welcomeProblem) : "";
    $("start-checkout").disabled = Boolean(down);
    $("start-checkin").disabled = Boolean(down);
  }

  async function refreshPad() {
    try {
      padState = await api("/api/v1/pad", { token });
    } catch (error) {
      if (error.status === 401 || error.status === 403) {
        needToken(true);
        return;
      }
      padState = { connected: false, patron_card: false };
    }
    if (screen === "welcome") {
      if (padState.connected && welcomeProblem === "kiosk.welcome.pad_down") welcomeProblem = null;
      renderWelcome();
    }
    if (screen === "identify") $("card-on-pad").hidden = !padState.patron_card;
    if (screen === "session") renderUnknown();
  }

  function renderUnknown() {
    // A tag on the pad that names no item (blank, unreadable, unknown data): the patron put
    // something down that nothing happens to, and must hear why.
    const unknown = Boolean(padState && padState.unidentified && padState.unidentified.length)
      && Boolean(session && session.open);
    $("session-unknown").hidden = !unknown;
    $("items-empty").hidden = items.size > 0 || unknown;   // not "nothing on the pad"
  }

  // --- identify ------------------------------------------------------------------------------

  async function toIdentify(card = "") {
    stopTimers();
    identifyError = null;
    $("identify-error").hidden = true;
    $("card").value = card;
    $("pin").value = "";
    show("identify", card ? "pin" : "card");
    $("card-on-pad").hidden = true;
    armIdentifyTimeout();
    await refreshPad();
  }

  function armIdentifyTimeout() {
    clearTimeout(timers.idle);
    timers.idle = setTimeout(() => {
      if (screen === "identify") toWelcome();
    }, IDENTIFY_IDLE_S * 1000);
  }

  function showIdentifyError(key) {
    identifyError = key;
    $("identify-error").textContent = t(key);
    $("identify-error").hidden = false;
  }

  function pressKey(button) {
    const pin = $("pin");
    if (button.dataset.digit !== undefined) {
      if (pin.value.length < Number(pin.maxLength)) pin.value += button.dataset.digit;
    } else if (button.dataset.key === "clear") {
      pin.value = "";
    } else if (button.dataset.key === "delete") {
      pin.value = pin.value.slice(0, -1);
    }
    armIdentifyTimeout();
  }

  async function submitIdentify(event) {
    event.preventDefault();
    const card = $("card").value.trim();
    const pin = $("pin").value.trim();
    if (!card && !(padState && padState.patron_card)) {
      showIdentifyError("kiosk.error.patron_required");
      $("card").focus();
      return;
    }
    $("identify-ok").disabled = true;
    try {
      const opened = await api("/api/v1/sessions", {
        method: "POST", token,
        body: { patron: card || null, pin: pin || null, mode: "checkout" },
      });
      enterSession(opened);
    } catch (error) {
      failedToOpen(error);
    } finally {
      $("identify-ok").disabled = false;
    }
  }

  function failedToOpen(error) {
    if (error.status === 401) {
      needToken(true);
      return;
    }
    const key = OPEN_ERRORS[error.code] || "kiosk.error.general";
    if (screen !== "identify") {
      welcomeProblem = key;
      renderWelcome();
      return;
    }
    showIdentifyError(key);
    if (error.code === "pin_wrong" || error.code === "pin_required") {
      $("pin").value = "";
      $("pin").focus();
    } else if (error.code === "patron_required") {
      $("card").focus();
    }
  }

  // --- the visit -----------------------------------------------------------------------------

  async function startReturn() {
    welcomeProblem = null;
    renderWelcome();
    try {
      enterSession(await api("/api/v1/sessions", {
        method: "POST", token, body: { mode: "checkin" },
      }));
    } catch (error) {
      failedToOpen(error);
    }
  }

  function itemKey(item) {
    return `${item.owner_institution || ""}|${item.primary_item_id}`;
  }

  function enterSession(opened) {
    stopTimers();
    $("pin").value = "";
    $("card").value = "";
    session = opened;
    items = new Map();
    rows = new Map();
    $("items").replaceChildren();
    forgetAccount();
    for (const item of opened.items) items.set(itemKey(item), item);
    sessionError = null;
    lastActivity = Date.now();
    renderSession();
    show("session");
    timers.poll = setInterval(refreshSession, SESSION_POLL_MS);
  }

  function stateText(item, mode) {
    switch (item.state) {
      case "waiting": return t("kiosk.item.waiting");
      case "incomplete_set": return t("kiosk.item.incomplete_set");
      case "processing": return t(mode === "checkin" ? "kiosk.item.returning"
        : "kiosk.item.borrowing");
      case "updating_tag": return t("kiosk.item.updating_tag");
      case "tag_put_back": return t("kiosk.item.tag_put_back");
      case "done":
        if (mode === "checkin") {
          if (item.sort_bin) return t("kiosk.item.returned_bin", { bin: item.sort_bin });
          if (item.destination) return t("kiosk.item.returned_transit");
          return t("kiosk.item.returned");
        }
        if (item.renewed) {
          return item.due ? t("kiosk.item.renewed_due", { date: LibEdge.formatDate(item.due) })
            : t("kiosk.item.renewed");
        }
        return item.due ? t("kiosk.item.borrowed_due", { date: LibEdge.formatDate(item.due) })
          : t("kiosk.item.borrowed");
      case "refused": return t(mode === "checkin" ? "kiosk.item.refused_return"
        : "kiosk.item.refused_borrow");
      case "put_back": return t("kiosk.item.put_back");
      case "not_ours": return t("kiosk.item.not_ours");
      default: return t("kiosk.item.needs_staff");
    }
  }

  function titleOf(item) {
    return item.title || t("kiosk.item.untitled", { id: item.primary_item_id });
  }

  function itemRow(item, mode) {
    const tone = TONES[item.state] || "attention";
    const icon = tone === "ok" ? "✓" : tone === "working" ? "…" : "!";
    return element("li", { class: tone, "data-item": item.primary_item_id,
                           "data-state": item.state },
      element("span", { class: "item-title", text: titleOf(item) }),
      element("span", { class: "item-state" },
        element("span", { "aria-hidden": "true", text: `${icon} ` }),
        element("span", { text: stateText(item, mode) })));
  }

  function renderSession() {
    if (!session) return;
    const checkin = session.mode === "checkin";
    $("session-title").textContent = t(checkin ? "kiosk.session.title_return"
      : "kiosk.session.title_borrow");
    $("session-lead").textContent = t(checkin ? "kiosk.session.lead_return"
      : "kiosk.session.lead_borrow");
    $("show-account").hidden = checkin || session.offline || !session.open;
    const list = $("items");
    for (const [key, item] of items) {
      const fresh = itemRow(item, session.mode);
      const old = rows.get(key);
      if (!old) {
        list.append(fresh);
      } else if (old.textContent !== fresh.textContent
                 || old.dataset.state !== fresh.dataset.state) {
        old.replaceWith(fresh);   // only changed rows: the live region reads only news
      } else {
        continue;
      }
      rows.set(key, fresh);
    }
    $("items-empty").hidden = items.size > 0;
    const done = [...items.values()].filter((item) => item.state === "done").length;
    const attention = [...items.values()].filter(
      (item) => (TONES[item.state] || "attention") === "attention").length;
    const parts = [t(checkin ? "kiosk.session.count_returned" : "kiosk.session.count_borrowed",
      { count: done })];
    if (attention) parts.push(t("kiosk.session.count_attention", { count: attention }));
    $("session-summary").textContent = items.size ? parts.join(" · ") : "";
    $("session-error").hidden = !sessionError;
    $("session-error").textContent = sessionError ? t(sessionError) : "";
    renderUnknown();
  }

  function applySession(fresh) {
    if (!session || fresh.id !== session.id) return;
    session = fresh;
    for (const item of fresh.items) items.set(itemKey(item), item);
    renderSession();
    if (!fresh.open && !ending) visitEnded(fresh.end_reason);
  }

  async function refreshSession() {
    if (!session) return;
    try {
      applySession(await api(`/api/v1/sessions/${session.id}`, { token }));
    } catch (error) {
      if (error.status === 401) needToken(true);
    }
  }

  function noteActivity() {
    if (!session || !session.open || Date.now() - lastActivity < ACTIVITY_EVERY_MS) return;
    lastActivity = Date.now();
    api(`/api/v1/sessions/${session.id}/activity`, { method: "POST", token })
      .catch(() => undefined);   // only a hint to the timeout; the next touch tries again
  }

  async function finish() {
    if (!session || ending) return;
    ending = true;
    $("finish").disabled = true;
    sessionError = null;
    try {
      const ended = await api(`/api/v1/sessions/${session.id}/end`, {
        method: "POST", token, body: {},
      });
      showReceipt(ended, null);
    } catch (error) {
      if (error.status === 401) {
        needToken(true);
      } else {
        sessionError = "kiosk.error.general";
        renderSession();
      }
    } finally {
      ending = false;
      $("finish").disabled = false;
    }
  }

  async function visitEnded(reason) {
    if (!session) return;
    const id = session.id;
    try {
      showReceipt(await api(`/api/v1/sessions/${id}/receipt`, { token }), reason);
    } catch (error) {
      toWelcome();
    }
  }

  // --- the account view ----------------------------------------------------------------------

  const ACCOUNT_ERRORS = {
    ils_unreachable: "kiosk.account.unavailable",
    patron_refused: "kiosk.account.refused",
    offline: "kiosk.error.offline",
  };
  const RENEW_ERRORS = {
    ils_unreachable: "kiosk.account.renew_unavailable",
    loan_unfinished: "kiosk.account.renew_unfinished",
    offline: "kiosk.error.offline",
  };

  function forgetAccount() {
    account = null;
    accountLoading = false;
    accountError = null;
    loanRows = new Map();
    renewals.clear();
    $("loans").replaceChildren();
  }

  async function showAccount() {
    if (!session || session.mode !== "checkout") return;
    forgetAccount();
    accountLoading = true;
    renderAccount();
    show("account");
    const id = session.id;
    let loaded = null;
    try {
      loaded = await api(`/api/v1/sessions/${id}/account`, { token });
    } catch (error) {
      if (error.status === 401) {
        needToken(true);
        return;
      }
      accountError = ACCOUNT_ERRORS[error.code] || "kiosk.error.general";
    }
    if (!session || session.id !== id) return;   // the visit ended meanwhile
    accountLoading = false;
    account = loaded;
    renderAccount();
  }

  function loanState(loan) {
    const outcome = renewals.get(loan.primary_item_id);
    if (outcome && outcome.pending) return t("kiosk.account.renewing");
    if (outcome && outcome.renewed) {
      return outcome.due ? t("kiosk.account.renewed_due", { date: LibEdge.formatDate(outcome.due) })
        : t("kiosk.account.renewed");
    }
    if (outcome && outcome.reason) {
      return t("kiosk.account.not_renewed_because", { reason: outcome.reason });
    }
    if (outcome) return t(outcome.error || "kiosk.account.not_renewed");
    if (!loan.due) return t(loan.overdue ? "kiosk.account.overdue_undated" : "kiosk.account.undated");
    return t(loan.overdue ? "kiosk.account.overdue" : "kiosk.account.due",
      { date: LibEdge.formatDate(loan.due) });
  }

  function loanRow(loan) {
    const outcome = renewals.get(loan.primary_item_id);
    const renewed = Boolean(outcome && outcome.renewed);
    const busy = Boolean(outcome && outcome.pending);
    let tone = "";
    if (renewed) tone = "ok";
    else if (busy) tone = "working";
    else if (outcome || loan.overdue) tone = "attention";
    const icon = { ok: "✓ ", attention: "! ", working: "… " }[tone];
    const title = titleOf(loan);
    // aria-disabled, not disabled: the button keeps the keyboard focus when its row changes.
    return element("li", { class: tone, "data-item": loan.primary_item_id,
                           "data-overdue": String(Boolean(loan.overdue)) },
      element("span", { class: "loan-text" },
        element("span", { class: "item-title", text: title }),
        element("span", { class: "item-state" },
          icon ? element("span", { "aria-hidden": "true", text: icon }) : null,
          element("span", { text: loanState(loan) })),
        loan.in_session ? element("span", { class: "loan-note",
                                            text: t("kiosk.account.borrowed_now") }) : null),
      element("button", {
        type: "button", class: "renew", "aria-disabled": renewed || busy ? "true" : null,
        "aria-label": t(renewed ? "kiosk.account.renewed_item" : "kiosk.account.renew_item",
          { title }),
        text: t(renewed ? "kiosk.account.renewed_button" : "kiosk.account.renew"),
        onclick: () => renew(loan),
      }));
  }

  function renderAccount() {
    const status = $("account-status");
    $("account-error").hidden = !accountError;
    $("account-error").textContent = accountError ? t(accountError) : "";
    if (!account) {
      status.textContent = accountLoading ? t("kiosk.account.loading") : "";
      return;
    }
    const overdue = account.loans.filter((loan) => loan.overdue).length;
    const parts = [account.more
      ? t("kiosk.account.more", { shown: account.loans.length, count: account.charged_count })
      : t(account.loans.length ? "kiosk.account.count" : "kiosk.account.none",
        { count: account.loans.length })];
    if (overdue) parts.push(t("kiosk.account.count_overdue", { count: overdue }));
    status.textContent = parts.join(" · ");
    const list = $("loans");
    for (const loan of account.loans) {
      const fresh = loanRow(loan);
      const old = loanRows.get(loan.primary_item_id);
      if (!old) {
        list.append(fresh);
      } else if (old.textContent !== fresh.textContent || old.className !== fresh.className) {
        const focused = old.contains(document.activeElement);
        old.replaceWith(fresh);   // only changed rows: the live region reads only news
        if (focused) fresh.querySelector("button").focus();
      } else {
        continue;
      }
      loanRows.set(loan.primary_item_id, fresh);
    }
  }

  async function renew(loan) {
    const id = loan.primary_item_id;
    const before = renewals.get(id);
    if (!session || (before && (before.pending || before.renewed))) return;
    renewals.set(id, { pending: true });
    renderAccount();
    let outcome;
    try {
      const answer = await api(`/api/v1/sessions/${session.id}/renew`, {
        method: "POST", token,
        body: { primary_item_id: id, owner_institution: loan.owner_institution || "" },
      });
      outcome = { renewed: answer.renewed, due: answer.due,
                  reason: answer.renewed ? null : answer.screen_message[0] || null };
      if (answer.renewed) {
        loan.due = answer.due || loan.due;
        loan.overdue = false;
      }
    } catch (error) {
      if (error.status === 401) {
        needToken(true);
        return;
      }
      outcome = { renewed: false, error: RENEW_ERRORS[error.code] || "kiosk.account.not_renewed" };
    }
    renewals.set(id, outcome);
    renderAccount();
  }

  // --- receipt -------------------------------------------------------------------------------

  function receiptRow(item, mode) {
    return element("li", { class: TONES[item.state] || "attention" },
      element("span", { class: "item-title", text: titleOf(item) }),
      element("span", { class: "item-state", text: stateText(item, mode) }));
  }

  function renderReceipt() {
    if (!receipt) return;
    const checkin = receipt.mode === "checkin";
    $("receipt-done-title").textContent = t(checkin ? "kiosk.receipt.returned"
      : "kiosk.receipt.borrowed", { count: receipt.items.length });
    $("receipt-done").replaceChildren(...receipt.items.map((i) => receiptRow(i, receipt.mode)));
    $("receipt-other").replaceChildren(
      ...receipt.not_processed.map((i) => receiptRow(i, receipt.mode)));
    $("receipt-other-title").hidden = receipt.not_processed.length === 0;
    $("receipt-offline").hidden = !(session && session.offline);
    const timedOut = receiptReason === "timeout";
    $("receipt-reason").hidden = !timedOut;
    $("receipt-reason").textContent = timedOut ? t("kiosk.receipt.timed_out") : "";
  }

  function showReceipt(ended, reason) {
    stopTimers();
    receipt = ended;
    receiptReason = reason;
    renderReceipt();
    show("receipt");
    let left = LOGOUT_AFTER_S;
    const tick = () => {
      $("logout-countdown").textContent = t("kiosk.receipt.countdown", { seconds: left });
      if (left <= 0) toWelcome();
      left -= 1;
    };
    tick();
    timers.countdown = setInterval(tick, 1000);
  }

  // --- the scanner on the welcome screen -----------------------------------------------------

  function onWelcomeKey(event) {
    if (screen !== "welcome") return;
    const now = performance.now();
    if (event.key === "Enter") {
      const scanned = scan.text;
      scan.text = "";
      if (scanned.length >= SCAN_MIN_CHARS && now - scan.last < SCAN_GAP_MS * 4) {
        event.preventDefault();   // not a press of the focused button: a card was scanned
        toIdentify(scanned);
      }
      return;
    }
    if (event.key.length !== 1) return;
    scan.text = now - scan.last > SCAN_GAP_MS ? event.key : scan.text + event.key;
    scan.last = now;
  }

  // --- start ---------------------------------------------------------------------------------

  function needToken(invalid = false) {
    stopTimers();
    if (events) events.close();
    events = null;
    if (invalid) LibEdge.forgetToken(PAGE);
    for (const section of document.querySelectorAll("main > section")) section.hidden = true;
    screen = "signin";
    LibEdge.signIn(PAGE, (fresh) => {
      token = fresh;
      connect();
    });
  }

  function listen() {
    events = LibEdge.stream(token, {
      item: (data) => {
        if (!session || data.session !== session.ref) return;
        items.set(itemKey(data), data);
        renderSession();
      },
      session: (data) => {
        if (session && data.event === "ended" && data.session === session.ref && !ending) {
          visitEnded(data.reason);
        }
      },
      pad: () => {
        if (screen === "welcome" || screen === "identify" || screen === "session") refreshPad();
      },
      resync: () => refreshSession(),
    });
  }

  async function connect() {
    try {
      padState = await api("/api/v1/pad", { token });
    } catch (error) {
      if (error.status === 401 || error.status === 403) {
        needToken(true);
        return;
      }
      show("unavailable");
      setTimeout(connect, RETRY_MS);
      return;
    }
    listen();
    if (padState.session && padState.session.open) {
      // The page started afresh during a visit (reloaded, its browser restarted): that visit
      // is over (unfinished items undone), or the next patron's items would join it.
      await api("/api/v1/pad/end-session", { method: "POST", token, body: {} })
        .catch(() => undefined);
    }
    toWelcome();
  }

  function rerender() {
    renderWelcome();
    renderSession();
    renderAccount();
    renderReceipt();
    if (identifyError) showIdentifyError(identifyError);
  }

  function wire() {
    $("start-checkout").addEventListener("click", () => toIdentify());
    $("start-checkin").addEventListener("click", startReturn);
    $("identify-cancel").addEventListener("click", () => toWelcome());
    $("identify-form").addEventListener("submit", submitIdentify);
    $("card").addEventListener("keydown", (event) => {
      if (event.key !== "Enter") return;
      event.preventDefault();   // a scanner's Enter ends the card number, not the form
      if ($("card").value.trim() || (padState && padState.patron_card)) $("pin").focus();
    });
    $("card").addEventListener("input", armIdentifyTimeout);
    $("pin").addEventListener("input", armIdentifyTimeout);
    for (const key of document.querySelectorAll("#pinpad .key")) {
      key.addEventListener("click", () => pressKey(key));
    }
    $("finish").addEventListener("click", finish);
    $("show-account").addEventListener("click", showAccount);
    $("account-back").addEventListener("click", () => show("session", "show-account"));
    $("receipt-close").addEventListener("click", () => toWelcome());
    $("print-receipt").addEventListener("click", () => window.print());
    document.addEventListener("keydown", onWelcomeKey);
    document.addEventListener("pointerdown", noteActivity);
    document.addEventListener("keydown", noteActivity);
  }

  LibEdge.boot({
    page: PAGE, render: rerender, rememberLanguage: false,
    wire: () => {
      defaultLanguage = LibEdge.language;
      wire();
    },
    signedOut: needToken,
    run: async (fresh) => {
      token = fresh;
      await connect();
    },
  });
})();
