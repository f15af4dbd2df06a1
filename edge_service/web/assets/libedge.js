// SPDX-License-Identifier: Apache-2.0
/*
 * What every LibEdge page shares: translations, the role token, API calls, the live stream.
 *
 * - Translations: every visible string comes from a catalogue (/assets/i18n/<lang>.json, flat
 *   "key": "text with {name} placeholders"). The language is ?lang=, else the browser's first
 *   language there is a catalogue for, else English; a key missing from a catalogue falls back
 *   to English (and is reported on the console). Elements carry data-i18n="key" (their text)
 *   and data-i18n-attr="attribute:key;..." (attributes such as aria-label, placeholder).
 * - The token: a page URL may carry #token=... (a fragment never reaches a server or its
 *   logs); the page keeps it in localStorage under its own name and removes it from the
 *   address bar. Without one, the page shows its sign-in form.
 * - API errors become ApiError {status, code, message, field}: pages branch on code and show
 *   their own words, never the server's technical message, to a patron.
 *
 * Not responsible for: what a page shows (each page's own script).
 */
"use strict";

const LibEdge = (() => {
  const FALLBACK_LANGUAGE = "en";
  let available = [FALLBACK_LANGUAGE];
  let language = FALLBACK_LANGUAGE;
  let catalogue = {};
  let english = {};
  const listeners = [];

  class ApiError extends Error {
    constructor(status, code, message, field) {
      super(message);
      this.status = status;
      this.code = code;
      this.field = field;
    }
  }

  async function getJson(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new ApiError(response.status, `http_${response.status}`, url, null);
    return response.json();
  }

  function requestedLanguage() {
    const asked = new URLSearchParams(window.location.search).get("lang");
    if (asked && available.includes(asked)) return asked;
    for (const tag of navigator.languages || [navigator.language || ""]) {
      const base = tag.toLowerCase().split("-")[0];
      if (available.includes(base)) return base;
    }
    return FALLBACK_LANGUAGE;
  }

  function t(key, params = {}) {
    let text = catalogue[key];
    if (text === undefined) {
      text = english[key];
      if (text === undefined) {
        console.warn(`LibEdge: no text for ${key}`);
        return key;
      }
      console.warn(`LibEdge: ${language} has no text for ${key}; English shown`);
    }
    return text.replace(/\{(\w+)\}/g, (whole, name) =>
      params[name] === undefined || params[name] === null ? whole : String(params[name]));
  }

  function translate(root = document) {
    for (const element of root.querySelectorAll("[data-i18n]")) {
      element.textContent = t(element.dataset.i18n);
    }
    for (const element of root.querySelectorAll("[data-i18n-attr]")) {
      for (const pair of element.dataset.i18nAttr.split(";")) {
        const [attribute, key] = pair.split(":").map((part) => part.trim());
        if (attribute && key) element.setAttribute(attribute, t(key));
      }
    }
  }

  async function setLanguage(wanted) {
    language = available.includes(wanted) ? wanted : FALLBACK_LANGUAGE;
    catalogue = language === FALLBACK_LANGUAGE ? english
      : await getJson(`/assets/i18n/${language}.json`);
    document.documentElement.lang = language;
    translate();
    for (const button of document.querySelectorAll(".languages button")) {
      button.setAttribute("aria-pressed", String(button.dataset.lang === language));
    }
    for (const listener of listeners) listener(language);
  }

  function onLanguage(listener) {
    listeners.push(listener);
  }

  function languageButtons(container, { remember = true } = {}) {
    container.replaceChildren();
    for (const lang of available) {
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.lang = lang;
      button.lang = lang;
      button.setAttribute("data-i18n", `language.${lang}`);
      button.textContent = t(`language.${lang}`);
      button.setAttribute("aria-pressed", String(lang === language));
      button.addEventListener("click", async () => {
        await setLanguage(lang);
        if (remember) {
          const url = new URL(window.location.href);
          url.searchParams.set("lang", lang);
          window.history.replaceState(null, "", url.pathname + url.search);
        }
      });
      container.append(button);
    }
  }

  async function start() {
    try {
      const about = await getJson("/pages/about.json");
      available = about.languages;
      LibEdge.version = about.version;
      LibEdge.demo = about.demo === true;
    } catch (error) {
      console.warn("LibEdge: /pages/about.json unavailable; English only", error);
    }
    english = await getJson(`/assets/i18n/${FALLBACK_LANGUAGE}.json`);
    await setLanguage(requestedLanguage());
  }

  /* Every page starts the same way: the catalogues, the language buttons (#languages), its
     own controls (wire), then its token from the URL or storage: without one it asks for it
     (signedOut), with one it runs. rememberLanguage false: a language choice is not kept in
     the URL (the kiosk returns to its default for the next patron). */
  async function boot({ page, render, wire = () => {}, signedOut, run,
                        rememberLanguage = true }) {
    await start();
    languageButtons(document.getElementById("languages"), { remember: rememberLanguage });
    onLanguage(render);
    wire();
    const token = takeToken(page);
    if (!token) {
      signedOut();
      return;
    }
    await run(token);
  }

  /* The staff readers (GET /api/v1/staff) as the page's #station choice, shown only when
     there is one to make, and #no-station when there are none; the first station's name. */
  function chooseStation(stations) {
    document.getElementById("no-station").hidden = stations.length > 0;
    document.getElementById("station-choice").hidden = stations.length < 2;
    document.getElementById("station").replaceChildren(...stations.map((s) => element(
      "option", { value: s.name, text: s.name })));
    return stations.length ? stations[0].name : null;
  }

  function takeToken(page) {
    const key = `libedge.token.${page}`;
    const match = window.location.hash.match(/(?:^#|&)token=([^&]+)/);
    if (match) {
      localStorage.setItem(key, decodeURIComponent(match[1]));
      window.history.replaceState(null, "", window.location.pathname + window.location.search);
    }
    return localStorage.getItem(key);
  }

  function saveToken(page, token) {
    localStorage.setItem(`libedge.token.${page}`, token);
  }

  function forgetToken(page) {
    localStorage.removeItem(`libedge.token.${page}`);
  }

  async function api(path, { method = "GET", body, token, accept = [] } = {}) {
    const headers = { Accept: "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new ApiError(0, "offline", String(error), null);
    }
    let data = null;
    try {
      data = await response.json();
    } catch (error) {
      data = null;
    }
    if (!response.ok && !accept.includes(response.status)) {
      const problem = (data && data.error) || {};
      throw new ApiError(response.status, problem.code || `http_${response.status}`,
        problem.message || response.statusText, problem.field || null);
    }
    return data;
  }

  function stream(token, handlers) {
    const source = new EventSource(`/api/v1/events/stream?token=${encodeURIComponent(token)}`);
    for (const [kind, handler] of Object.entries(handlers)) {
      if (kind === "open" || kind === "error") {
        source.addEventListener(kind, handler);
      } else {
        source.addEventListener(kind, (event) => {
          let data = null;
          try {
            data = event.data ? JSON.parse(event.data) : null;
          } catch (error) {
            console.warn("LibEdge: an event that is not JSON", event);
            return;
          }
          handler(data, event);
        });
      }
    }
    return source;
  }

  /* The sign-in form every page has (#signin): asks for the page's token once. */
  function signIn(page, onToken) {
    const section = document.getElementById("signin");
    const form = document.getElementById("signin-form");
    const input = document.getElementById("signin-token");
    section.hidden = false;
    form.onsubmit = (event) => {
      event.preventDefault();
      const token = input.value.trim();
      if (!token) {
        input.focus();
        return;
      }
      saveToken(page, token);
      input.value = "";
      section.hidden = true;
      onToken(token);
    };
    input.focus();
  }

  function element(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : value);
    }
    node.append(...children.filter((child) => child !== null && child !== undefined));
    return node;
  }

  function formatTime(iso) {
    const moment = new Date(iso);
    if (Number.isNaN(moment.getTime())) return iso;
    return new Intl.DateTimeFormat(language, { dateStyle: "medium", timeStyle: "medium" })
      .format(moment);
  }

  /* A due date as SIP2 sends it ("YYYYMMDD    HHMMSS") or ISO 8601, in the page's language. */
  function formatDate(text) {
    if (!text) return "";
    const sip = /^(\d{4})(\d{2})(\d{2})/.exec(text);
    const moment = sip ? new Date(Number(sip[1]), Number(sip[2]) - 1, Number(sip[3]))
      : new Date(text);
    if (Number.isNaN(moment.getTime())) return text;
    return new Intl.DateTimeFormat(language, { dateStyle: "long" }).format(moment);
  }

  return {
    ApiError, api, boot, chooseStation, element, forgetToken, formatDate, formatTime,
    languageButtons, onLanguage, saveToken, setLanguage, signIn, start, stream, t, takeToken,
    translate,
    get language() { return language; },
    get languages() { return available.slice(); },
    version: null,
    demo: false,   // `libedge demo`: the demo's controls and routes exist
  };
})();
