// The IT dashboard: hall map, devices, alerts, jobs. Signs in with an API token (kept in this tab's
// sessionStorage), reads the public API with it and follows live changes over SSE.
import { loadLanguage, currentLanguage, applyTranslations, t } from "/ui/static/i18n.js";

const API = "/api/v1";
const state = { overview: null, view: "map", stream: null };
const $ = (sel) => document.querySelector(sel);

function token() { return sessionStorage.getItem("hallcloud.token"); }

async function api(path, options = {}) {
  const r = await fetch(path, { ...options, headers: { ...(options.headers || {}), Authorization: `Bearer ${token()}` } });
  if (r.status === 401) { signOut(); throw new Error("unauthorized"); }
  if (!r.ok) throw new Error(`${r.status} ${await r.text()}`);
  return r.status === 204 ? null : r.json();
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) node.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
  return node;
}

const badge = (s) => el("span", { class: "st", dataset: { s } }, t(`state.${s}`) === `state.${s}` ? s : t(`state.${s}`));
const typeName = (slug) => (t(`type.${slug}`) === `type.${slug}` ? slug : t(`type.${slug}`));
const label = (prefix, key) => (t(`${prefix}.${key}`) === `${prefix}.${key}` ? key : t(`${prefix}.${key}`));
const when = (iso) => (iso ? new Date(iso).toLocaleString(currentLanguage()) : "—");

// ---- status rules: what colour a tile gets --------------------------------------------------------
const RANK = { ok: 0, unknown: 1, degraded: 2, down: 3 };
const worst = (a, b) => (RANK[b] > RANK[a] ? b : a);
function deviceStatus(d, alerts) {
  let s = { up: "ok", down: "down", auth_error: "down", degraded: "degraded" }[d.oper_status] || "unknown";
  for (const a of alerts) if (a.device_id === d.id && a.status === "firing") s = worst(s, a.severity === "critical" ? "down" : "degraded");
  return s;
}
function desktopStatus(st) { return st === "running" ? "ok" : st === "paused" ? "degraded" : st ? "down" : "unknown"; }

// ---- views ------------------------------------------------------------------------------------------
function renderMap() {
  const o = state.overview;
  const root = el("div", { id: "hall-map" });
  root.append(el("div", { class: "legend" },
    ["ok", "degraded", "down", "unknown"].map((s) => el("span", { style: `--c: var(--${s})` }, t(`legend.${s}`)))));
  if (!o.windows.length && !o.devices.length) root.append(el("p", {}, t("map.empty")));
  for (const site of o.sites) {
    const siteNode = el("section", { class: "site" }, el("h2", {}, site.name));
    const areas = [...o.areas.filter((a) => a.site_id === site.id), { id: null, name: "" }];
    for (const area of areas) {
      const windows = o.windows.filter((w) => w.site_id === site.id && w.area_id === area.id);
      const loose = o.devices.filter((d) => d.site_id === site.id && !d.window_id && d.area_id === area.id);
      if (!windows.length && !loose.length) continue;
      const tiles = el("div", { class: "tiles" });
      for (const w of windows) tiles.append(windowTile(site, w));
      for (const d of loose) tiles.append(deviceTile(d));
      siteNode.append(el("div", { class: "area" }, el("h3", {}, area.name || t("map.common")), tiles));
    }
    root.append(siteNode);
  }
  return root;
}

function windowTile(site, w) {
  const o = state.overview;
  const devices = o.devices.filter((d) => d.window_id === w.id);
  const seat = o.seats.find((s) => s.window === w.number && (!s.site || s.site === site.slug));
  let status = devices.length || seat ? "ok" : "unknown";
  const rows = [];
  if (seat) {
    const canOpen = ["it_staff", "admin"].includes(o.me.role);
    rows.push(el("li", { class: "seat-row" }, el("span", {}, `${t("map.seat")} ${seat.name}`),
      canOpen ? el("button", { class: "open-seat", onclick: () => openSeat(seat.name) }, t("map.open_seat")) : ""));
    for (const side of ["gov", "internet"]) {
      const st = seat.states[side] || "unknown";
      status = worst(status, desktopStatus(st));
      rows.push(el("li", { dataset: { desktop: side } }, el("span", {}, `${t("map.desktops")} ${t(`desktop.${side}`)}`), badge(st)));
    }
  } else rows.push(el("li", {}, el("span", {}, t("map.no_seat"))));
  for (const d of devices) {
    status = worst(status, deviceStatus(d, o.alerts));
    const label = d.device_type === "thin_client" ? t("map.thin_client") : typeName(d.device_type);
    rows.push(el("li", { dataset: { device: d.id } }, el("a", { href: `#/devices/${d.id}` }, `${label} ${d.name}`), badge(d.oper_status)));
  }
  return el("article", { class: "tile", id: `tile-window-${w.id}`, dataset: { status } },
    el("h4", {}, `${t("map.window")} ${w.number} · ${w.name}`), el("ul", {}, rows));
}

async function openSeat(name) {
  // a short-lived seat token for IT staff helping at the window; the token travels in the URL fragment
  const popup = window.open("about:blank", `seat-${name}`);
  const issued = await api(`/ui/api/seats/${encodeURIComponent(name)}/token`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ ttl_hours: 1 }) });
  popup.location = issued.url;
}

function deviceTile(d) {
  const status = deviceStatus(d, state.overview.alerts);
  return el("article", { class: "tile", id: `tile-device-${d.id}`, dataset: { status } },
    el("h4", {}, el("a", { href: `#/devices/${d.id}` }, d.name)),
    el("ul", {}, el("li", {}, el("span", {}, typeName(d.device_type)), badge(d.oper_status)),
      el("li", {}, el("span", {}, d.address))));
}

async function renderDevices(params) {
  const o = state.overview;
  const form = el("form", { class: "filters", id: "device-filters" },
    el("input", { name: "q", placeholder: t("devices.filter.q"), value: params.get("q") || "" }),
    el("select", { name: "device_type" }, el("option", { value: "" }, `${t("devices.filter.type")}: ${t("devices.filter.all")}`),
      o.device_types.map((s) => el("option", { value: s, selected: params.get("device_type") === s }, typeName(s)))),
    el("select", { name: "oper_status" }, el("option", { value: "" }, `${t("devices.filter.status")}: ${t("devices.filter.all")}`),
      ["up", "degraded", "down", "auth_error", "unknown"].map((s) => el("option", { value: s, selected: params.get("oper_status") === s }, t(`state.${s}`)))),
  );
  form.addEventListener("change", () => { location.hash = `#/devices?${new URLSearchParams(new FormData(form))}`; });
  form.addEventListener("submit", (e) => { e.preventDefault(); form.dispatchEvent(new Event("change")); });
  const query = new URLSearchParams([...params].filter(([, v]) => v));
  query.set("limit", "500");
  const page = await api(`${API}/devices?${query}`);
  const windows = Object.fromEntries(o.windows.map((w) => [w.id, w.number]));
  const body = page.results.map((d) => el("tr", { dataset: { device: d.id } },
    el("td", {}, el("a", { href: `#/devices/${d.id}` }, d.name)), el("td", {}, typeName(d.device_type)),
    el("td", {}, d.address), el("td", {}, windows[d.window_id] ?? "—"), el("td", {}, badge(d.oper_status)),
    el("td", {}, when(d.last_seen))));
  return el("div", {}, form, el("table", { id: "device-table" },
    el("thead", {}, el("tr", {}, ["name", "type", "address", "window", "status", "last_seen"].map((k) => el("th", {}, t(`devices.${k}`))))),
    el("tbody", {}, body.length ? body : el("tr", {}, el("td", { colspan: 6 }, t("devices.none"))))));
}

function chart(metric, samples) {
  const w = 600, h = 110, pad = 4;
  const values = samples.map((s) => s.value);
  const min = Math.min(...values), max = Math.max(...values);
  const span = max - min || 1;
  const pts = samples.map((s, i) => `${pad + (i / Math.max(1, samples.length - 1)) * (w - 2 * pad)},${h - pad - ((s.value - min) / span) * (h - 2 * pad)}`).join(" ");
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("preserveAspectRatio", "none");
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("points", pts);
  svg.append(line);
  const last = values[values.length - 1];
  return el("div", { class: "chart", dataset: { metric } }, el("h4", {}, `${metric}: ${last} (min ${min}, max ${max})`), svg);
}

async function renderDevice(id) {
  const [d, metrics, events] = await Promise.all([api(`${API}/devices/${id}`), api(`${API}/devices/${id}/metrics`), api(`${API}/devices/${id}/events?limit=50`)]);
  const byMetric = {};
  for (const m of metrics) (byMetric[m.metric] ||= []).push(m);
  const charts = Object.entries(byMetric).map(([name, samples]) => chart(name, samples));
  return el("div", { id: "device-detail", dataset: { device: d.id } },
    el("p", {}, el("a", { href: "#/devices" }, `← ${t("device.back")}`)),
    el("h2", {}, `${d.name} `, badge(d.oper_status)),
    el("p", {}, `${typeName(d.device_type)} · ${d.address}:${d.snmp_port} · ${t("devices.last_seen")} ${when(d.last_seen)}`),
    d.last_error ? el("p", { class: "error" }, d.last_error) : "",
    el("h3", {}, t("device.metrics")), charts.length ? el("div", { class: "charts" }, charts) : el("p", {}, t("device.no_metrics")),
    el("h3", {}, t("device.facts")), el("pre", {}, JSON.stringify(d.facts, null, 2)),
    el("h3", {}, t("device.events")),
    el("table", {}, el("tbody", {}, events.map((e) => el("tr", {}, el("td", {}, when(e.at)), el("td", {}, e.kind), el("td", {}, e.message))))));
}

function renderAlerts() {
  const o = state.overview;
  const names = Object.fromEntries(o.devices.map((d) => [d.id, d.name]));
  const rows = o.alerts.map((a) => el("tr", { id: `alert-${a.id}`, dataset: { status: a.status, device: a.device_id } },
    el("td", {}, el("a", { href: `#/devices/${a.device_id}` }, names[a.device_id] || a.device_id)),
    el("td", {}, label("kind", a.kind)), el("td", {}, label("severity", a.severity)), el("td", {}, a.message), el("td", {}, when(a.opened_at)),
    el("td", { class: "alert-status" }, t(`alerts.${a.status}`)),
    el("td", {}, a.status === "firing" ? el("button", { class: "ack", onclick: () => acknowledge(a.id) }, t("alerts.ack")) : "")));
  return el("div", {}, el("h2", {}, t("alerts.active")),
    el("table", { id: "alert-table" },
      el("thead", {}, el("tr", {}, ["device", "kind", "severity", "message", "opened", "status"].map((k) => el("th", {}, t(`alerts.${k}`))), el("th", {}))),
      el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: 7 }, t("alerts.none"))))));
}

async function acknowledge(id) {
  await api(`${API}/alerts/${id}/acknowledge`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ comment: "dashboard" }) });
  const alert = state.overview.alerts.find((a) => a.id === id);
  if (alert) alert.status = "acknowledged";
  render();
}

async function renderJobs(params) {
  const page = await api(`${API}/jobs?limit=50`);
  const rows = page.results.map((j) => el("tr", { dataset: { job: j.id, status: j.status } },
    el("td", {}, el("a", { href: `#/jobs?id=${j.id}` }, `#${j.id}`)), el("td", {}, j.title || ""), el("td", {}, j.kind),
    el("td", { class: "job-status" }, j.status), el("td", {}, `${Math.round((j.progress || 0) * 100)}%`), el("td", {}, when(j.created_at))));
  const node = el("div", { id: "jobs" }, el("h2", {}, t("jobs.title")),
    el("table", { id: "job-table" }, el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", {}, t("jobs.none"))))));
  const id = params.get("id");
  if (id) {
    const status = el("p", { id: "job-status" });
    const log = el("pre", { class: "log", id: "job-log" });
    node.append(el("h3", {}, `${t("jobs.log")} #${id}`), status, log);
    followJob(id, log, status);
  }
  return node;
}

async function followJob(id, pre, statusLine) {
  // EventSource cannot send the token: read the job's SSE stream with fetch and parse it here.
  const controller = new AbortController();
  const r = await fetch(`${API}/jobs/${id}/stream`, { headers: { Authorization: `Bearer ${token()}` }, signal: controller.signal });
  if (!r.ok) { pre.append(`${r.status}\n`); return; }
  const reader = r.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    while (pre.isConnected) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
        const lines = block.split("\n");
        const event = (lines.find((l) => l.startsWith("event:")) || "event: message").slice(6).trim();
        const data = lines.filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n");
        if (!data) continue;
        const payload = JSON.parse(data);
        if (event === "log") pre.append(`${payload.text}\n`);
        else if (event === "status" || event === "end") {
          statusLine.textContent = `${payload.status} ${Math.round((payload.progress || 0) * 100)}% ${payload.step || ""} ${payload.error || ""}`;
          statusLine.dataset.status = payload.status;
        }
      }
    }
  } finally { controller.abort(); }
}

// ---- shell ---------------------------------------------------------------------------------------------
let renderSeq = 0;

async function render() {
  if (!state.overview) return;
  // a view that awaits (a device's detail) must not overwrite the view of a later render (navigation,
  // language), which would leave e.g. the map's address showing a device page until the next update
  const seq = ++renderSeq;
  const [path, query] = (location.hash.slice(1) || "/map").split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean);
  state.view = parts[0] || "map";
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.view === state.view);
  const firing = state.overview.alerts.filter((a) => a.status === "firing").length;
  $("#alert-count").hidden = !firing;
  $("#alert-count").textContent = firing;
  $("#nav-jobs").hidden = !state.overview.features.jobs;
  let content;
  try {
    if (state.view === "devices" && parts[1]) content = await renderDevice(parts[1]);
    else if (state.view === "devices") content = await renderDevices(params);
    else if (state.view === "alerts") content = renderAlerts();
    else if (state.view === "jobs" && state.overview.features.jobs) content = await renderJobs(params);
    else content = renderMap();
  } catch (e) { content = el("p", { class: "error" }, String(e)); }
  if (seq !== renderSeq) return;
  $("#view").replaceChildren(content);
  document.body.dataset.view = state.view;
}

function live(on) { $("#live").dataset.live = on ? "on" : "off"; $("#live").textContent = t(on ? "live.on" : "live.off"); }

async function follow() {
  if (state.stream) state.stream.close();
  let ticket;
  try { ticket = (await api("/ui/api/stream-ticket", { method: "POST" })).ticket; } catch { if (token()) setTimeout(follow, 3000); return; }
  const source = new EventSource(`/ui/api/stream?ticket=${encodeURIComponent(ticket)}`);
  state.stream = source;
  source.addEventListener("open", () => live(true));
  source.addEventListener("overview", (e) => {
    state.overview = JSON.parse(e.data);
    document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
    // re-render live views; detail and list pages keep their place (they refresh on navigation)
    if (["map", "alerts"].includes(state.view)) render();
    else { const n = state.overview.alerts.filter((a) => a.status === "firing").length; $("#alert-count").hidden = !n; $("#alert-count").textContent = n; }
  });
  source.addEventListener("error", () => { live(false); source.close(); if (token()) setTimeout(follow, 2000); });
}

async function signIn(value) {
  sessionStorage.setItem("hallcloud.token", value);
  let r;
  for (let attempt = 0; ; attempt++) {  // a busy server (5xx, network) is retried; only 401/403 mean "bad token"
    try { r = await fetch("/ui/api/overview", { headers: { Authorization: `Bearer ${value}` } }); } catch { r = null; }
    if ((r && (r.ok || r.status === 401 || r.status === 403)) || attempt >= 10) break;
    await new Promise((done) => setTimeout(done, 1000));
  }
  if (!r || !r.ok) { sessionStorage.removeItem("hallcloud.token"); $("#login-error").hidden = false; return; }
  state.overview = await r.json();
  $("#nav").hidden = false; $("#live").hidden = false; $("#logout").hidden = false;
  $("#me").textContent = `${state.overview.me.name} (${state.overview.me.role})`;
  live(false);
  await render();
  follow();
}

function signOut() {
  sessionStorage.removeItem("hallcloud.token");
  if (state.stream) state.stream.close();
  location.hash = "";
  location.reload();
}

$("#login-form").addEventListener("submit", (e) => { e.preventDefault(); signIn($("#api-token").value.trim()); });
$("#logout").addEventListener("click", signOut);
$("#lang-select").addEventListener("change", async (e) => { await loadLanguage(e.target.value); applyTranslations(); render(); live($("#live").dataset.live === "on"); });
window.addEventListener("hashchange", render);

await loadLanguage();
$("#lang-select").value = currentLanguage();
if (token()) signIn(token());
