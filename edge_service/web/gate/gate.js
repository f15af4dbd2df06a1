// SPDX-License-Identifier: Apache-2.0
/*
 * The gate monitor: live alarms naming the item, its title, owner and loan status, and what
 * the alarm outputs did; people counts in and out for the current hour, and each gate
 * reader's health. The snapshot comes from /api/v1/gates (gate or staff token), live changes
 * from the event stream (gate.alarm, gate.count), the reader's health from /api/v1/devices;
 * a stream "resync" reloads the snapshot.
 *
 * - The stream is kept open: the browser reconnects by itself after a network error, but an
 *   HTTP error (a proxy's 502 while the daemon restarts, 503 too_many_streams) ends it for
 *   good, so the page opens it again after RETRY_MS. While it is down the page says so
 *   (#live-state); once it is back the snapshot is reloaded (alarms meanwhile were missed).
 *
 * Not responsible for: deciding alarms (the daemon's gate workflow).
 */
"use strict";

(() => {
  const { api, element, t } = LibEdge;
  const PAGE = "gate";
  const REFRESH_MS = 10000;
  const BANNER_MS = 15000;
  const MAX_ALARMS = 50;
  const RETRY_MS = [1000, 2000, 5000, 10000, 30000];   // then every 30 s
  const OUTPUTS = {   // what the alarm outputs did -> text, badge
    sounded: ["gate.sounded", "danger"],
    failed: ["gate.outputs_failed", "danger"],
    unavailable: ["gate.recorded_no_outputs", "danger"],
    off: ["gate.reported", "attention"],
  };
  const STATUSES = ["01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12",
                    "13"];   // SIP2 circulation status codes
  const $ = (id) => document.getElementById(id);

  let token = null;
  let gates = [];
  let devices = [];
  let alarms = [];
  let newest = null;
  let timer = null;
  let bannerTimer = null;
  let events = null;
  let live = null;            // null: not connected yet, true: live, false: reconnecting
  let retries = 0;
  let retryTimer = null;

  function itemText(item) {
    if (!item.known) return t("gate.unknown_tag", { uid: item.uid });
    const title = item.title || t("gate.untitled");
    const owner = item.owner_institution ? ` · ${item.owner_institution}` : "";
    return `${title} (${item.primary_item_id}${owner})`;
  }

  function statusText(item) {
    if (!item.known) return null;
    const status = item.circulation_status;
    return t("gate.loan_status", { status: STATUSES.includes(status)
      ? t(`gate.status.${status}`) : t("gate.status.unknown") });
  }

  /* What the outputs did: an alarm from before the daemon said so has only `sounded`. */
  function outputsOf(alarm) {
    return OUTPUTS[alarm.outputs] ? alarm.outputs : alarm.sounded ? "sounded" : "off";
  }

  function alarmRow(alarm) {
    const [what, tone] = OUTPUTS[outputsOf(alarm)];
    return element("tr", { "data-alarm": alarm.time },
      element("td", { text: LibEdge.formatTime(alarm.time) }),
      element("td", { text: alarm.gate }),
      element("td", {}, ...alarm.items.flatMap((item) => [
        element("div", { class: "alarm-item", "data-item": item.primary_item_id || item.uid,
                         text: itemText(item) }),
        item.known ? element("div", { class: "hint", "data-loan-status": item.circulation_status
                                      || "", text: statusText(item) }) : null,
      ])),
      element("td", { text: t(`gate.direction.${alarm.direction}`) }),
      element("td", {}, element("span", { class: `badge ${tone}`, text: t(what) }),
        alarm.foreign ? element("div", { class: "hint", text: t("gate.foreign") }) : null));
  }

  function countsBlock(counts) {
    if (!counts.available) {
      return element("div", {},
        element("p", { text: t("gate.counts_unavailable") }),
        element("p", { class: "hint", text: counts.reason }));
    }
    return element("dl", { class: "facts" },
      element("dt", { text: t("gate.this_hour_in") }),
      element("dd", { "data-count": "in", text: String(counts.period_entered) }),
      element("dt", { text: t("gate.this_hour_out") }),
      element("dd", { "data-count": "out", text: String(counts.period_left) }),
      element("dt", { text: t("gate.total_in_out") }),
      element("dd", {
        "data-count": "today", text: `${counts.today_entered} / ${counts.today_left}`,
      }));
  }

  function healthBlock(gate) {
    const device = devices.find((d) => d.name === gate.gate);
    if (!device) return null;
    const beat = device.heartbeat_age_s === null ? "–"
      : t("gate.seconds_ago", { seconds: device.heartbeat_age_s.toFixed(1) });
    return element("dl", { class: "facts" },
      element("dt", { text: t("gate.reader_link") }),
      element("dd", {}, element("span", {
        class: `badge ${device.connected ? "ok" : "danger"}`,
        text: t(device.connected ? "common.state.connected" : "common.state.unreachable"),
      })),
      element("dt", { text: t("gate.last_beat") }), element("dd", { text: beat }),
      element("dt", { text: t("gate.last_error") }),
      element("dd", { text: device.last_error || "–" }));
  }

  function gateCard(gate) {
    const outputs = t(`gate.outputs.${gate.outputs}`);
    return element("section", { class: "card", "data-gate": gate.gate,
                                "aria-label": t("gate.gate_named", { gate: gate.gate }) },
      element("h2", { text: t("gate.gate_named", { gate: gate.gate }) }),
      element("dl", { class: "facts" },
        element("dt", { text: t("status.col.state") }),
        element("dd", {}, element("span", {
          class: `badge ${gate.state === "connected" ? "ok" : "danger"}`,
          text: t(`common.state.${gate.state}`),
        })),
        element("dt", { text: t("gate.alarms_today") }),
        element("dd", { "data-alarms-today": "", text: String(gate.alarms_today) }),
        element("dt", { text: t("gate.alarm_outputs") }), element("dd", { text: outputs }),
        element("dt", { text: t("gate.detection") }),
        element("dd", { text: t(`gate.detection.${gate.detection}`) })),
      element("h3", { text: t("gate.people") }),
      countsBlock(gate.counts),
      element("h3", { text: t("gate.health") }),
      healthBlock(gate));
  }

  function renderLive() {
    $("live-state").textContent = live === null ? ""
      : t(live ? "services.live.on" : "services.live.off");
  }

  function render() {
    renderLive();
    $("no-gates").hidden = gates.length > 0;
    $("gates").replaceChildren(...gates.map(gateCard));
    $("alarms").replaceChildren(...alarms.map(alarmRow));
    $("no-alarms").hidden = alarms.length > 0;
    $("alarms-table").hidden = alarms.length === 0;
    if (newest) {
      const first = newest.items[0];
      const banner = outputsOf(newest) === "off" ? "gate.banner_reported" : "gate.banner";
      $("alarm-banner").textContent = t(banner,
        { gate: newest.gate, item: first ? itemText(first) : "" });
    }
  }

  function announce(alarm) {
    newest = alarm;
    $("alarm-banner").hidden = false;
    clearTimeout(bannerTimer);
    bannerTimer = setTimeout(() => {
      $("alarm-banner").hidden = true;
      newest = null;
    }, BANNER_MS);
  }

  async function refresh() {
    clearTimeout(timer);
    try {
      gates = await api("/api/v1/gates", { token });
      devices = (await api("/api/v1/devices", { token })).devices;
      alarms = gates.flatMap((gate) => gate.last_alarms)
        .sort((a, b) => b.time.localeCompare(a.time)).slice(0, MAX_ALARMS);
      $("gate-error").hidden = true;
      $("content").hidden = false;
      render();
    } catch (error) {
      if (error.status === 401 || error.status === 403) {
        needToken(true);
        return;
      }
      $("gate-error").textContent = t("common.error.unreachable");
      $("gate-error").hidden = false;
    }
    timer = setTimeout(refresh, REFRESH_MS);
  }

  function listen() {
    clearTimeout(retryTimer);
    if (events) events.close();
    const source = LibEdge.stream(token, {
      open: () => {
        retries = 0;
        if (live === false) refresh();   // back after a break: alarms meanwhile were missed
        live = true;
        renderLive();
      },
      error: () => {
        if (source !== events) return;
        live = false;
        renderLive();
        // CONNECTING: the browser retries by itself; CLOSED (an HTTP error): it gave up.
        if (source.readyState === EventSource.CLOSED) {
          retryTimer = setTimeout(listen, RETRY_MS[Math.min(retries, RETRY_MS.length - 1)]);
          retries += 1;
        }
      },
      "gate.alarm": (alarm) => {
        alarms = [alarm, ...alarms].slice(0, MAX_ALARMS);
        const gate = gates.find((g) => g.gate === alarm.gate);
        if (gate && outputsOf(alarm) !== "off") gate.alarms_today += 1;
        announce(alarm);
        render();
      },
      "gate.count": (data) => {
        const gate = gates.find((g) => g.gate === data.gate);
        if (gate && data.available) {
          gate.counts = data;
          render();
        }
      },
      resync: () => refresh(),
    });
    events = source;
  }

  function needToken(invalid = false) {
    clearTimeout(timer);
    clearTimeout(retryTimer);
    if (events) events.close();
    events = null;
    if (invalid) LibEdge.forgetToken(PAGE);
    $("content").hidden = true;
    LibEdge.signIn(PAGE, (fresh) => {
      token = fresh;
      start();
    });
  }

  function start() {
    listen();
    refresh();
  }

  LibEdge.boot({ page: PAGE, render, signedOut: needToken, run: (fresh) => {
    token = fresh;
    start();
  } });
})();
