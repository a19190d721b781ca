// The clerk's seat page: both desktops connected at once, each through its own one-time console
// (a websockify process and a short-lived VNC password of its own); one is shown, the other kept live.
import RFB from "/ui/novnc/core/rfb.js";
import { loadLanguage, currentLanguage, t } from "/ui/static/i18n.js";

const seat = decodeURIComponent(location.pathname.split("/")[2] || "");
const SIDES = ["gov", "internet"];
const consoles = {};
window.hallSeat = { seat, consoles };

document.getElementById("seat-name").textContent = seat;

function setState(side, state) {
  const pane = document.getElementById(`pane-${side}`);
  pane.dataset.state = state;
  document.getElementById(`tab-${side}`).dataset.state = state;
  pane.querySelector(".status").dataset.i18n = `seat.${state}`;
  pane.querySelector(".status").textContent = t(`seat.${state}`);
  pane.querySelector(".reconnect").hidden = !(state === "disconnected" || state === "failed");
}

function show(side) {
  document.body.dataset.active = side;
  for (const r of SIDES) {
    document.getElementById(`tab-${r}`).setAttribute("aria-selected", String(r === side));
  }
  const rfb = consoles[side];
  if (rfb) rfb.focus();
}

async function connect(side) {
  setState(side, "connecting");
  const old = consoles[side];
  if (old) { try { old.disconnect(); } catch (e) { /* already closed */ } }
  const r = await fetch(`/seat/${encodeURIComponent(seat)}/consoles/${side}`, {
    method: "POST", credentials: "same-origin" });
  if (r.status === 401) { location.reload(); return; }
  if (!r.ok) { setState(side, "failed"); return; }
  const c = await r.json();
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const url = `${scheme}://${location.hostname}:${c.port}/${c.path}`;
  const screen = document.querySelector(`#pane-${side} .screen`);
  screen.replaceChildren();
  const rfb = new RFB(screen, url, { credentials: { password: c.password }, shared: true });
  rfb.scaleViewport = true;
  rfb.resizeSession = false;
  rfb.background = "#000";
  rfb.addEventListener("connect", () => { setState(side, "connected"); if (document.body.dataset.active === side) rfb.focus(); });
  rfb.addEventListener("disconnect", (e) => setState(side, e.detail.clean ? "disconnected" : "failed"));
  rfb.addEventListener("securityfailure", () => setState(side, "failed"));
  consoles[side] = rfb;
}

for (const side of SIDES) {
  document.getElementById(`tab-${side}`).addEventListener("click", () => show(side));
  document.querySelector(`#pane-${side} .reconnect`).addEventListener("click", () => connect(side));
}

// Capture phase: the hotkeys switch desktops before noVNC forwards the keys to the guest.
window.addEventListener("keydown", (e) => {
  if (!e.altKey || e.ctrlKey || e.metaKey) return;
  let target = null;
  if (e.code === "Digit1") target = "gov";
  else if (e.code === "Digit2") target = "internet";
  else if (e.code === "Backquote") target = document.body.dataset.active === "gov" ? "internet" : "gov";
  if (!target) return;
  e.preventDefault();
  e.stopPropagation();
  show(target);
}, true);

document.getElementById("lang").addEventListener("click", async () => {
  const next = currentLanguage() === "zh-CN" ? "en" : "zh-CN";
  await loadLanguage(next);
  document.getElementById("lang").textContent = next === "zh-CN" ? "EN" : "中文";
});

await loadLanguage();
document.getElementById("lang").textContent = currentLanguage() === "zh-CN" ? "EN" : "中文";
show("gov");
for (const side of SIDES) connect(side);
