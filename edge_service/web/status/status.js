// SPDX-License-Identifier: Apache-2.0
/*
 * Device status: readers and gates, the MQTT link, the outbox backlog, the ILS link, storage,
 * version; refreshed every REFRESH_MS from /api/v1/health (no token) and /api/v1/devices (any
 * role's token). An unhealthy box answers health with 503 and a body: it is shown, not an error.
 *
 * Not responsible for: deciding health (the daemon).
 */
"use strict";

(() => {
  const { api, element, t } = LibEdge;
  const PAGE = "status";
  const REFRESH_MS = 5000;
  const KNOWN_STATES = ["connected", "connecting", "starting", "unreachable", "stopped"];
  const $ = (id) => document.getElementById(id);

  let token = null;
  let last = null;
  let timer = null;

  function stateBadge(state, good = "connected") {
    const tone = state === good ? "ok" : state === "unreachable" ? "danger" : "attention";
    const text = KNOWN_STATES.includes(state) ? t(`common.state.${state}`) : state;
    return element("span", { class: `badge ${tone}`, text });
  }

  function duration(seconds) {
    const minutes = Math.floor(seconds / 60);
    const hours = Math.floor(minutes / 60);
    if (hours) return t("status.duration_hours", { hours, minutes: minutes % 60 });
    if (minutes) return t("status.duration_minutes", { minutes });
    return t("status.duration_seconds", { seconds: Math.round(seconds) });
  }

  function readerRow(device) {
    const identity = [device.model, device.firmware].filter(Boolean).join(" ");
    return element("tr", { "data-reader": device.name },
      element("th", { scope: "row", text: device.name }),
      element("td", { text: t(`common.role.${device.role}`) }),
      element("td", { text: device.protocol }),
      element("td", {}, stateBadge(device.state)),
      element("td", {}, device.port ? element("code", { text: device.port }) : null,
        identity ? element("div", { class: "hint", text: identity }) : null),
      element("td", { class: "number", text: String(device.tags_in_field ?? "–") }),
      element("td", { text: device.last_error || "–" }));
  }

  function render() {
    if (!last) return;
    const { health, devices } = last;
    const ok = health.status === "ok";
    $("overall-health").replaceChildren(element("span", {
      class: `badge ${ok ? "ok" : "danger"}`, text: t(ok ? "status.healthy" : "status.unhealthy"),
    }));
    $("overall-version").textContent = LibEdge.version || "–";
    $("overall-uptime").textContent = duration(health.uptime_s);
    $("overall-updated").textContent = LibEdge.formatTime(new Date().toISOString());
    $("problems").replaceChildren(...health.problems.map((p) => element("li", { text: p })));
    $("readers").replaceChildren(...devices.devices.map(readerRow));
    const mqtt = health.mqtt;
    $("mqtt-state").replaceChildren(!mqtt.enabled
      ? element("span", { class: "badge neutral", text: t("status.mqtt_off") })
      : stateBadge(mqtt.connected ? "connected" : "unreachable"));
    const backlog = health.storage.outbox_backlog;
    $("outbox-backlog").replaceChildren(element("strong", {
      text: backlog === null ? "–" : String(backlog), "data-backlog": String(backlog),
    }), " ", t("status.outbox_events"));
    const ils = devices.ils || health.ils;
    $("ils-backend").textContent = ils ? t(`status.ils_backend.${ils.backend}`) : "–";
    $("ils-state").replaceChildren(ils ? stateBadge(ils.state) : "–");
    $("ils-since").textContent = ils && ils.since ? LibEdge.formatTime(ils.since) : "–";
    $("ils-error").textContent = ils && ils.last_error ? ils.last_error : "";
    $("storage-state").replaceChildren(element("span", {
      class: `badge ${health.storage.alive ? "ok" : "danger"}`,
      text: t(health.storage.alive ? "status.alive" : "status.not_alive"),
    }));
    $("storage-commits").textContent = String(health.storage.commits);
    $("storage-failed").textContent = String(health.storage.commits_failed);
  }

  async function refresh() {
    try {
      const health = await api("/api/v1/health", { accept: [503] });
      const devices = await api("/api/v1/devices", { token });
      last = { health, devices };
      $("status-error").hidden = true;
      $("content").hidden = false;
      render();
    } catch (error) {
      if (error.status === 401 || error.status === 403) {
        needToken(true);
        return;
      }
      $("status-error").textContent = t("common.error.unreachable");
      $("status-error").hidden = false;
    }
    timer = setTimeout(refresh, REFRESH_MS);
  }

  function needToken(invalid = false) {
    clearTimeout(timer);
    if (invalid) LibEdge.forgetToken(PAGE);
    $("content").hidden = true;
    LibEdge.signIn(PAGE, (fresh) => {
      token = fresh;
      refresh();
    });
  }

  LibEdge.boot({ page: PAGE, render, signedOut: needToken, run: (fresh) => {
    token = fresh;
    refresh();
  } });
})();
