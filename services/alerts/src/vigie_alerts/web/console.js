// Vigie operator console. Plain JavaScript, no third-party code, served by the alerts service
// under a strict CSP. Text from the server is only ever set with textContent (never innerHTML).
"use strict";

const API = "/alerts/api";
const SVG = "http://www.w3.org/2000/svg";
const state = {
  me: null, alerts: new Map(), order: [], selected: null, ws: null, retry: 0,
  cameras: [], editorPoints: [], historyCursor: "", dispatch: { suspended: false },
  kinds: null, kindList: [],
};
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) if (c != null) node.append(c);
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

async function api(path, { method = "GET", body } = {}) {
  const headers = {};
  if (method !== "GET") {
    headers["X-CSRF-Token"] = state.me ? state.me.csrf : "";
    headers["Content-Type"] = "application/json";
  }
  const response = await fetch(API + path, {
    method, headers, credentials: "same-origin", cache: "no-store",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = {};
  try { data = await response.json(); } catch (_) { /* empty body */ }
  if (response.status === 401 && path !== "/session") { showLogin(); }
  if (!response.ok) {
    const error = new Error(data.error || `HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return data;
}

function can(permission) { return !!state.me && state.me.permissions.includes(permission); }
function fmtTime(iso) { return iso ? new Date(iso).toLocaleString() : ""; }
function label(s) { return (s || "").replace(/_/g, " "); }

// ---------------------------------------------------------------------------------- session
function showLogin() {
  state.me = null;
  if (state.ws) { state.ws.onclose = null; state.ws.close(); state.ws = null; }
  $("app").hidden = true; $("sign-out").hidden = true; $("whoami").textContent = "";
  $("login-view").hidden = false;
  setConnection("offline");
}

async function start() {
  try {
    state.me = await api("/me");
  } catch (_) {
    showLogin();
    return;
  }
  enterApp();
}

function enterApp() {
  $("login-view").hidden = true; $("app").hidden = false; $("sign-out").hidden = false;
  $("whoami").textContent = `${state.me.login} (${state.me.role})`;
  for (const node of document.querySelectorAll("[data-permission]")) {
    const perms = node.dataset.permission.split(" ");
    node.hidden = !perms.some(can);
  }
  if (state.me.dispatch) showDispatch(state.me.dispatch);
  const first = document.querySelector(".tabs button:not([hidden])");
  const wanted = location.hash.startsWith("#alert=") ? "live" : (first && first.dataset.tab);
  selectTab(wanted || "live");
  if (can("view_feed")) { loadRecent(); connect(); }
  else if (can("view_history")) { selectTab("history"); }
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("login-error").textContent = "";
  try {
    state.me = await api("/session", { method: "POST",
      body: { login: $("login").value, password: $("password").value } });
    $("password").value = "";
    state.me = await api("/me");
    enterApp();
  } catch (error) {
    $("login-error").textContent = error.message;
  }
});

$("sign-out").addEventListener("click", async () => {
  try { await api("/session", { method: "DELETE" }); } catch (_) { /* already out */ }
  state.alerts.clear(); state.order = []; $("feed").replaceChildren();
  showLogin();
});

// ------------------------------------------------------------------------------------ tabs
function selectTab(name) {
  for (const button of document.querySelectorAll(".tabs button")) {
    button.setAttribute("aria-selected", String(button.dataset.tab === name));
  }
  for (const section of document.querySelectorAll(".tab")) {
    section.hidden = section.id !== `tab-${name}`;
  }
  if (name === "cameras") loadCameras();
  if (name === "editor") loadEditor();
  if (name === "audit") loadAudit();
  if (name === "admin") loadAdmin();
  if (name === "history") loadHistory(true);
}
for (const button of document.querySelectorAll(".tabs button")) {
  button.addEventListener("click", () => selectTab(button.dataset.tab));
}

// ------------------------------------------------------------------------------- live feed
function setConnection(s) { const c = $("connection"); c.dataset.state = s; c.textContent = s; }

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}${API}/live`);
  state.ws = ws;
  setConnection("connecting");
  ws.onopen = () => { state.retry = 0; setConnection("live"); };
  ws.onmessage = (message) => {
    const event = JSON.parse(message.data);
    if (event.type === "hello") { showDispatch(event.dispatch); return; }
    if (event.type === "dispatch") { showDispatch(event.dispatch); return; }
    if (event.alert) upsertAlert(event.alert, event.type === "alert");
    if (state.selected === (event.alert && event.alert.alert_id)) openDetail(state.selected);
  };
  ws.onclose = () => {
    setConnection("offline");
    if (!state.me) return;
    state.retry = Math.min(state.retry + 1, 6);
    setTimeout(() => { if (state.me) { loadRecent(); connect(); } }, 500 * 2 ** state.retry);
  };
}

async function loadRecent() {
  try {
    const data = await api("/alerts?limit=50");
    for (const alert of data.alerts.reverse()) upsertAlert(alert, false);
    const m = location.hash.match(/^#alert=([A-Za-z0-9:._-]+)$/);
    if (m) openDetail(m[1]);
  } catch (_) { /* shown on reconnect */ }
}

function snapshotView(alert, cls) {
  const box = el("div", { class: `snap ${cls}` });
  if (alert.snapshot_url) {
    const img = el("img", { src: alert.snapshot_url, alt: "snapshot (faces blurred)" });
    img.addEventListener("load", () => {  // boxes are normalised: keep the image's own shape
      if (img.naturalWidth) box.style.aspectRatio = `${img.naturalWidth} / ${img.naturalHeight}`;
    });
    box.append(img);
  } else {
    box.append(el("p", { class: "placeholder",
      text: alert.evidence_deleted ? "snapshot deleted (retention)" : "no snapshot yet" }));
  }
  const overlay = svg("svg", { class: "overlay", viewBox: "0 0 1 1", preserveAspectRatio: "none" });
  for (const [x0, y0, x1, y1] of alert.boxes || []) {
    overlay.append(svg("rect", { class: "box", x: x0, y: y0, width: x1 - x0, height: y1 - y0,
      "vector-effect": "non-scaling-stroke" }));
  }
  box.append(overlay);
  return box;
}

// A camera tampering alert: the camera's view before (its reference view, as detect reported it)
// beside the snapshot of the frame that confirmed the problem (after).
function beforeView(alert, cls) {
  const box = el("div", { class: `snap ${cls}` });
  if (alert.before_url) {
    const img = el("img", { src: alert.before_url, alt: "the camera's view before (faces blurred)" });
    img.addEventListener("load", () => {
      if (img.naturalWidth) box.style.aspectRatio = `${img.naturalWidth} / ${img.naturalHeight}`;
    });
    box.append(img);
  } else {
    box.append(el("p", { class: "placeholder",
      text: alert.before_deleted ? "deleted (retention)" : "no before image yet" }));
  }
  return box;
}

function evidenceView(alert, cls) {
  if (!alert.view_problem) return snapshotView(alert, cls);
  return el("div", { class: `pair ${cls}`, "data-view-problem": alert.view_problem },
    el("figure", {}, beforeView(alert, cls), el("figcaption", { text: "before" })),
    el("figure", {}, snapshotView(alert, cls),
      el("figcaption", { text: `after: ${label(alert.view_problem)}` })));
}

function upsertAlert(alert, fresh) {
  const known = state.alerts.has(alert.alert_id);
  state.alerts.set(alert.alert_id, alert);
  const feed = $("feed");
  const card = el("li", { class: "alert-card", "data-alert-id": alert.alert_id,
    "data-camera-id": alert.camera_id, "data-status": alert.status });
  if (fresh && !known) card.classList.add("fresh");
  if (alert.view_problem) card.classList.add("tamper");
  if (state.selected === alert.alert_id) card.classList.add("selected");
  const info = el("div", {},
    el("div", { class: "title", text: alert.title || label(alert.kind) }),
    el("div", { class: "meta", text: `${alert.camera_name} · ${fmtTime(alert.raised_at)}` }),
    alert.view_problem ? el("div", { class: "meta",
      text: `${label(alert.view_problem)} since ${fmtTime(alert.started_at)}` }) : null,
    el("span", { class: `badge sev-${alert.severity}`, text: alert.severity }), " ",
    el("span", { class: `badge st-${alert.status}`, "data-role": "status",
      text: label(alert.status) }),
    alert.face_match ? el("span", { class: "badge", text: `face match ${alert.confirmations}/${alert.required}` }) : null);
  card.append(evidenceView(alert, "thumb"), info);
  card.addEventListener("click", () => openDetail(alert.alert_id));
  const old = feed.querySelector(`[data-alert-id="${CSS.escape(alert.alert_id)}"]`);
  if (old) old.replaceWith(card); else feed.prepend(card);
  while (feed.children.length > 200) feed.lastChild.remove();
  $("feed-count").textContent = String(feed.children.length);
}

async function openDetail(alertId) {
  state.selected = alertId;
  for (const c of document.querySelectorAll(".alert-card")) {
    c.classList.toggle("selected", c.dataset.alertId === alertId);
  }
  let a;
  try { a = await api(`/alerts/${encodeURIComponent(alertId)}`); } catch (error) {
    $("decision-message").textContent = error.message; return;
  }
  if (state.selected !== alertId) return;
  $("detail").hidden = false;
  $("detail").dataset.alertId = alertId;
  $("detail").dataset.status = a.status;
  $("detail-title").textContent = a.title || label(a.kind);
  $("detail-severity").textContent = a.severity;
  $("detail-severity").className = `badge sev-${a.severity}`;
  $("detail-status").textContent = label(a.status);
  $("detail-status").className = `badge status st-${a.status}`;
  $("detail-snapshot").replaceWith(Object.assign(evidenceView(a, "large"), { id: "detail-snapshot" }));
  const facts = $("detail-facts");
  facts.replaceChildren();
  const rows = [["Camera", `${a.camera_name} (${a.camera_id})`], ["Kind", label(a.kind)],
    ["Raised", fmtTime(a.raised_at)], [a.view_problem ? "Began" : "Started", fmtTime(a.started_at)],
    ["Tracks", (a.track_ids || []).join(", ")], ["Alert id", a.alert_id]];
  if (a.face_match) rows.push(["Watchlist subject", a.subject_id || "-"]);
  for (const [k, v] of Object.entries(a.attributes || {})) rows.push([label(k), v]);
  if (a.evidence_locked) rows.push(["Evidence", "locked (legal hold)"]);
  for (const [k, v] of rows) facts.append(el("dt", { text: k }), el("dd", { text: v || "-" }));
  $("detail-confirmations").textContent =
    `Confirmations: ${a.confirmations}/${a.required}` +
    (a.required > 1 ? " — needs distinct operators before any dispatch" : "");
  const final = a.status === "confirmed" || a.status === "dismissed";
  for (const id of ["btn-ack", "btn-confirm", "btn-dismiss"]) $(id).disabled = final;
  const decisions = $("detail-decisions");
  decisions.replaceChildren(...a.decisions.map((d) => el("li", {
    text: `${fmtTime(d.decided_at)} — ${d.operator} (${d.role}) ${d.decision}` +
      (d.reason ? `: ${d.reason}` : "") })));
  if (!a.decisions.length) decisions.append(el("li", { text: "none yet" }));
  const deliveries = $("detail-deliveries");
  deliveries.replaceChildren(...a.deliveries.map((d) => el("li", {
    "data-status": d.status,
    text: `${d.route} → ${d.channel} (${d.kind}): ${d.status}` +
      (d.attempts ? `, ${d.attempts} attempt(s)` : "") + (d.reason ? ` — ${d.reason}` : "") +
      (d.last_error ? ` [${d.last_error}]` : "") })));
  if (!a.deliveries.length) deliveries.append(el("li", { text: "nothing dispatched" }));
  upsertAlert(a, false);
}

for (const button of document.querySelectorAll("#decision-box button[data-decision]")) {
  button.addEventListener("click", async () => {
    const alertId = state.selected;
    const message = $("decision-message");
    message.className = "message"; message.textContent = "…";
    try {
      const r = await api(`/alerts/${encodeURIComponent(alertId)}/decisions`, { method: "POST",
        body: { decision: button.dataset.decision, reason: $("decision-reason").value } });
      message.className = "message good";
      message.textContent = `Recorded: ${r.decision.decision}. Status ${label(r.status)} ` +
        `(${r.confirmations}/${r.required}).`;
      $("decision-reason").value = "";
      openDetail(alertId);
    } catch (error) {
      message.className = "message bad"; message.textContent = error.message;
    }
  });
}

async function lockEvidence(locked) {
  try {
    await api(`/alerts/${encodeURIComponent(state.selected)}/evidence-lock`, { method: "POST",
      body: { locked, reason: $("lock-reason").value } });
    openDetail(state.selected);
  } catch (error) { $("decision-message").textContent = error.message; }
}
$("btn-lock").addEventListener("click", () => lockEvidence(true));
$("btn-unlock").addEventListener("click", () => lockEvidence(false));

// --------------------------------------------------------------------------------- history
async function loadHistory(reset) {
  if (reset) { state.historyCursor = ""; $("history-rows").replaceChildren(); }
  const params = new URLSearchParams({ limit: "50" });
  if ($("history-q").value) params.set("q", $("history-q").value);
  if ($("history-status").value) params.set("status", $("history-status").value);
  if ($("history-severity").value) params.set("severity", $("history-severity").value);
  if (state.historyCursor) params.set("cursor", state.historyCursor);
  try {
    const data = await api(`/alerts?${params}`);
    for (const a of data.alerts) {
      const row = el("tr", { class: "clickable", "data-alert-id": a.alert_id },
        el("td", { text: fmtTime(a.raised_at) }), el("td", { text: a.title || label(a.kind) }),
        el("td", { text: a.camera_name }), el("td", { text: a.severity }),
        el("td", { text: label(a.status) }));
      if (can("view_feed")) {
        row.addEventListener("click", () => { selectTab("live"); openDetail(a.alert_id); });
      }
      $("history-rows").append(row);
    }
    state.historyCursor = data.next_cursor;
    $("history-more").hidden = !data.next_cursor;
  } catch (error) { $("history-rows").append(el("tr", {}, el("td", { text: error.message }))); }
}
$("history-form").addEventListener("submit", (e) => { e.preventDefault(); loadHistory(true); });
$("history-more").addEventListener("click", () => loadHistory(false));

// ---------------------------------------------------------------------------- cameras, map
async function loadCameras() {
  const data = await api("/cameras");
  state.cameras = data.cameras;
  const rows = $("camera-rows");
  rows.replaceChildren(...data.cameras.map((c) => {
    const draw = el("button", { type: "button", text: "Draw rule" });
    draw.addEventListener("click", () => { selectTab("editor"); chooseCamera(c.camera_id); });
    return el("tr", { "data-camera-id": c.camera_id },
      el("td", { text: c.name }), el("td", { text: String(c.open_alerts) }), healthCell(c.health),
      el("td", { text: c.lat == null ? "no position" : `${c.lat.toFixed(5)}, ${c.lon.toFixed(5)}` }),
      el("td", {}, can("edit_rules") ? draw : null));
  }));
  drawMap(data.cameras);
}

// Ingest's source state and detect's view problem (covered, defocused, moved, too dark, too bright).
function healthCell(h) {
  const cell = el("td", { class: "health" });
  if (h && h.view_problem) {
    cell.append(el("span", { class: "badge health-bad", "data-role": "view-problem",
      text: label(h.view_problem) }), ` since ${fmtTime(h.view_since)}`);
  }
  if (h && h.source_state && h.source_state !== "up") {
    if (cell.childNodes.length) cell.append(el("br"));
    cell.append(el("span", { class: "badge health-warn", "data-role": "source-state",
      text: label(h.source_state) }), h.source_reason ? ` ${h.source_reason}` : "");
  }
  if (!cell.childNodes.length) cell.append(el("span", { class: "badge", text: h && h.source_state ? "ok" : "-" }));
  return cell;
}

function drawMap(cameras) {
  const map = $("map");
  map.replaceChildren();
  const W = 1000, H = 640, PAD = 70;
  for (let i = 1; i < 10; i++) {
    map.append(svg("line", { class: "gridline", x1: i * W / 10, y1: 0, x2: i * W / 10, y2: H }));
    map.append(svg("line", { class: "gridline", x1: 0, y1: i * H / 10, x2: W, y2: i * H / 10 }));
  }
  const placed = cameras.filter((c) => c.lat != null && c.lon != null);
  $("map-note").textContent = placed.length === cameras.length ? "" :
    `${cameras.length - placed.length} camera(s) without a position are not on the map.`;
  if (!placed.length) return;
  // Equirectangular projection around the cameras' mean latitude, metres per pixel kept equal.
  const lat0 = placed.reduce((s, c) => s + c.lat, 0) / placed.length;
  const k = Math.cos(lat0 * Math.PI / 180);
  const xs = placed.map((c) => c.lon * k), ys = placed.map((c) => c.lat);
  const spanX = Math.max(Math.max(...xs) - Math.min(...xs), 0.002);
  const spanY = Math.max(Math.max(...ys) - Math.min(...ys), 0.002);
  const scale = Math.min((W - 2 * PAD) / spanX, (H - 2 * PAD) / spanY);
  const cx = (Math.max(...xs) + Math.min(...xs)) / 2, cy = (Math.max(...ys) + Math.min(...ys)) / 2;
  const project = (c) => [W / 2 + (c.lon * k - cx) * scale, H / 2 - (c.lat - cy) * scale];
  for (const c of placed) {
    const [x, y] = project(c);
    const marker = svg("circle", { class: `marker${c.open_alerts ? " alerting" : ""}`, cx: x, cy: y,
      r: c.open_alerts ? 12 : 9, "data-camera-id": c.camera_id });
    const title = svg("title"); title.textContent = `${c.name}: ${c.open_alerts} open alert(s)`;
    marker.append(title);
    marker.addEventListener("click", () => { if (can("edit_rules")) { selectTab("editor"); chooseCamera(c.camera_id); } });
    const text = svg("text", { class: "label", x: x + 16, y: y + 5 });
    text.textContent = c.open_alerts ? `${c.name} (${c.open_alerts})` : c.name;
    map.append(marker, text);
  }
  // Scale bar: a round number of metres near 150 px (1 degree of latitude = 111.32 km).
  const metresPerPx = 111320 / scale;
  const nice = [10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000];
  const metres = nice.find((m) => m / metresPerPx >= 100) || 50000;
  const px = metres / metresPerPx;
  map.append(svg("line", { class: "scale", x1: 30, y1: H - 30, x2: 30 + px, y2: H - 30 }));
  const t = svg("text", { class: "scale-text", x: 30, y: H - 40 });
  t.textContent = metres >= 1000 ? `${metres / 1000} km` : `${metres} m`;
  map.append(t);
}

// ------------------------------------------------------------------------------ zone editor
// The rule kinds the editor offers, and the fields each asks for, come from the rules service
// (GET /rule-kinds); the editor only knows how to ask for these fields (its names):
const FIELDS = {
  max_dwell_s: { label: "Dwell before alert (s)", min: 1, max: 86400, value: 60 },
  max_stop_s: { label: "Stop before alert (s)", min: 1, max: 86400, value: 60 },
  min_count: { label: "At least (objects)", min: 1, max: 10000, value: 5 },
};

function shape() { return document.querySelector("input[name=shape]:checked").value; }

function loadKinds() {  // once; again after a failure
  if (!state.kinds) {
    state.kinds = api("/rule-kinds").then((data) => ({ list: data.kinds, error: "" }),
      (error) => { state.kinds = null; return { list: [], error: error.message }; });
  }
  return state.kinds;
}

async function fillKinds() {
  const { list, error } = await loadKinds();
  state.kindList = list;
  const kinds = list.filter((k) => k.geometry === shape());
  const select = $("editor-kind");
  const current = select.value;
  select.replaceChildren(...kinds.map((k) => el("option", { value: k.name, text: k.title })));
  if (kinds.some((k) => k.name === current)) select.value = current;
  $("editor-kinds-message").textContent = error
    ? `Rule kinds unavailable, no rule can be created: ${error}`
    : (kinds.length ? "" : `No rule kind is drawn as a ${shape()}`);
  $("editor-polygon").disabled = shape() === "line";
  updateFields();
}

function updateFields() {
  const kind = (state.kindList || []).find((k) => k.name === $("editor-kind").value);
  $("editor-fields").replaceChildren(...(kind ? kind.fields : []).filter((n) => FIELDS[n]).map((name) => {
    const f = FIELDS[name];
    const input = el("input", { type: "number", min: f.min, max: f.max, "data-field": name });
    if (kind.required_fields.includes(name)) { input.value = f.value; input.required = true; }
    else input.placeholder = "optional";
    return el("label", {}, `${f.label} `, input);
  }));
  redrawEditor();
}

async function loadEditor() {
  if (!state.cameras.length) {
    try { state.cameras = (await api("/cameras")).cameras; } catch (_) { return; }
  }
  const select = $("editor-camera");
  const current = select.value;
  select.replaceChildren(el("option", { value: "", text: "— choose —" }),
    ...state.cameras.map((c) => el("option", { value: c.camera_id, text: c.name })));
  if (current) select.value = current;
  await fillKinds();
}

function chooseCamera(cameraId) {
  loadEditor().then(() => { $("editor-camera").value = cameraId; showEditorFrame(); });
}

async function showEditorFrame() {
  const cameraId = $("editor-camera").value;
  state.editorPoints = [];
  const frame = $("editor-frame");
  frame.replaceChildren();
  if (!cameraId) { frame.append(el("p", { class: "placeholder", text: "Choose a camera" })); return; }
  const img = el("img", { alt: "latest camera image (faces blurred)", id: "editor-image" });
  img.addEventListener("load", () => {
    if (img.naturalWidth) frame.style.aspectRatio = `${img.naturalWidth} / ${img.naturalHeight}`;
  });
  img.src = `${API}/cameras/${encodeURIComponent(cameraId)}/frame.jpg?t=${Date.now()}`;
  img.addEventListener("error", () => {
    img.replaceWith(el("p", { class: "placeholder",
      text: "No recent image from this camera: you can still draw on the grid" }));
  });
  const overlay = svg("svg", { class: "overlay", id: "editor-overlay", viewBox: "0 0 1 1",
    preserveAspectRatio: "none" });
  overlay.addEventListener("click", onEditorClick);
  frame.append(img, overlay);
  redrawEditor();
  loadRules(cameraId);
}

function onEditorClick(event) {
  const rect = event.currentTarget.getBoundingClientRect();
  const x = Math.min(1, Math.max(0, (event.clientX - rect.left) / rect.width));
  const y = Math.min(1, Math.max(0, (event.clientY - rect.top) / rect.height));
  const max = shape() === "line" || !$("editor-polygon").checked ? 2 : 32;
  if (state.editorPoints.length >= max) state.editorPoints = [];
  state.editorPoints.push([Number(x.toFixed(4)), Number(y.toFixed(4))]);
  redrawEditor();
}

function rectangle([[x0, y0], [x1, y1]]) {
  return [[Math.min(x0, x1), Math.min(y0, y1)], [Math.max(x0, x1), Math.min(y0, y1)],
    [Math.max(x0, x1), Math.max(y0, y1)], [Math.min(x0, x1), Math.max(y0, y1)]];
}

function redrawEditor(existing) {
  const overlay = $("editor-overlay");
  if (!overlay) return;
  for (const n of [...overlay.querySelectorAll(".shape, .vertex")]) n.remove();
  if (existing) {
    for (const n of [...overlay.querySelectorAll(".existing")]) n.remove();
    for (const r of existing) {
      if (r.zone.length) overlay.append(svg("polygon", { class: "existing",
        points: r.zone.map((p) => p.join(",")).join(" "), "vector-effect": "non-scaling-stroke" }));
      if (r.line) overlay.append(svg("line", { class: "existing", x1: r.line[0][0], y1: r.line[0][1],
        x2: r.line[1][0], y2: r.line[1][1], "vector-effect": "non-scaling-stroke" }));
    }
  }
  const pts = state.editorPoints;
  const polygon = $("editor-polygon").checked && shape() === "zone";
  if (shape() === "line" && pts.length === 2) {
    overlay.append(svg("line", { class: "shape line", x1: pts[0][0], y1: pts[0][1], x2: pts[1][0],
      y2: pts[1][1], "vector-effect": "non-scaling-stroke" }));
  } else if (shape() === "zone" && !polygon && pts.length === 2) {
    overlay.append(svg("polygon", { class: "shape", points: rectangle(pts).map((p) => p.join(",")).join(" "),
      "vector-effect": "non-scaling-stroke" }));
  } else if (polygon && pts.length >= 2) {
    overlay.append(svg(state.closed ? "polygon" : "polyline", { class: "shape",
      points: pts.map((p) => p.join(",")).join(" "), "vector-effect": "non-scaling-stroke" }));
  }
  for (const [x, y] of pts) {
    overlay.append(svg("circle", { class: "vertex", cx: x, cy: y, r: 0.006 }));
  }
  const ready = (shape() === "line" && pts.length === 2) || (!polygon && pts.length === 2) ||
    (polygon && state.closed && pts.length >= 3);
  $("editor-save").disabled = !ready || !$("editor-camera").value || !$("editor-kind").value;
  $("editor-finish").hidden = !polygon;
}

async function loadRules(cameraId) {
  const list = $("rules-list");
  list.replaceChildren();
  try {
    const data = await api(`/rules?camera_id=${encodeURIComponent(cameraId)}`);
    for (const r of data.rules) {
      const remove = el("button", { type: "button", text: "Delete" });
      remove.addEventListener("click", async () => {
        try { await api(`/rules/${encodeURIComponent(r.rule_id)}`, { method: "DELETE" }); }
        catch (error) { $("editor-message").textContent = error.message; }
        loadRules(cameraId);
      });
      list.append(el("li", { "data-rule-id": r.rule_id },
        `${r.name} — ${label(r.kind)}, until ${r.valid_until ? fmtTime(r.valid_until) : "permanently"} `,
        remove));
    }
    if (!data.rules.length) list.append(el("li", { text: "none" }));
    redrawEditor(data.rules);
  } catch (error) {
    list.append(el("li", { text: error.message }));
  }
}

$("editor-camera").addEventListener("change", showEditorFrame);
$("editor-reload").addEventListener("click", showEditorFrame);
$("editor-kind").addEventListener("change", updateFields);
for (const r of document.querySelectorAll("input[name=shape]")) {
  r.addEventListener("change", () => { state.editorPoints = []; state.closed = false; fillKinds(); redrawEditor(); });
}
$("editor-polygon").addEventListener("change", () => { state.editorPoints = []; state.closed = false; redrawEditor(); });
$("editor-finish").addEventListener("click", () => { state.closed = state.editorPoints.length >= 3; redrawEditor(); });
$("editor-clear").addEventListener("click", () => { state.editorPoints = []; state.closed = false; redrawEditor(); });

$("editor-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const message = $("editor-message");
  const body = {
    camera_id: $("editor-camera").value, kind: $("editor-kind").value,
    points: state.editorPoints, name: $("editor-name").value,
    severity: $("editor-severity").value,
    duration: document.querySelector("input[name=duration]:checked").value,
  };
  for (const input of $("editor-fields").querySelectorAll("input[data-field]")) {
    if (input.value !== "") body[input.dataset.field] = Number(input.value);
  }
  message.className = "message"; message.textContent = "…";
  try {
    const r = await api("/rules", { method: "POST", body });
    message.className = "message good";
    message.textContent = `Rule created: ${r.rule.name} (${r.rule.rule_id}), ` +
      (r.rule.valid_until ? `until ${fmtTime(r.rule.valid_until)}` : "permanent");
    state.editorPoints = []; state.closed = false;
    loadRules(body.camera_id);
  } catch (error) {
    message.className = "message bad"; message.textContent = error.message;
  }
});

// ----------------------------------------------------------------------------------- audit
async function loadAudit() {
  const params = new URLSearchParams({ limit: "200" });
  if ($("audit-action").value) params.set("action", $("audit-action").value);
  try {
    const data = await api(`/audit?${params}`);
    $("audit-rows").replaceChildren(...data.records.map((r) => el("tr", { "data-action": r.action },
      el("td", { text: fmtTime(r.occurred_at) }), el("td", { text: `${r.chain} #${r.sequence}` }),
      el("td", { text: r.actor }), el("td", { text: label(r.action) }),
      el("td", { text: r.subject_ref }),
      el("td", { text: Object.entries(r.details).map(([k, v]) => `${k}=${v}`).join(", ") }),
      el("td", { class: "hash", text: r.hash.slice(0, 12) }))));
  } catch (error) { $("audit-rows").replaceChildren(el("tr", {}, el("td", { text: error.message }))); }
}
$("audit-reload").addEventListener("click", loadAudit);
$("audit-action").addEventListener("change", loadAudit);
$("audit-verify").addEventListener("click", async () => {
  const out = $("audit-verify-result");
  try {
    const r = await api("/audit/verify", { method: "POST", body: {} });
    out.className = `message ${r.valid ? "good" : "bad"}`;
    out.textContent = r.valid
      ? `Chains intact: ${r.chains.map((c) => `${c.chain} (${c.records_checked} records, head ${c.head_hash.slice(0, 12)})`).join("; ")}`
      : `BROKEN: ${r.error}`;
  } catch (error) { out.className = "message bad"; out.textContent = error.message; }
});

// ---------------------------------------------------------------------------- administration
function showDispatch(d) {
  state.dispatch = d || { suspended: false };
  $("dispatch-banner").hidden = !state.dispatch.suspended;
  $("dispatch-state").textContent = state.dispatch.suspended ? "SUSPENDED" : "running";
  $("dispatch-by").textContent = state.dispatch.by
    ? `(by ${state.dispatch.by}, ${fmtTime(state.dispatch.at)}${state.dispatch.reason ? `: ${state.dispatch.reason}` : ""})` : "";
  $("dispatch-toggle").textContent = state.dispatch.suspended ? "Resume dispatch" : "Suspend all dispatch";
  $("dispatch-toggle").className = state.dispatch.suspended ? "primary" : "danger";
}

async function loadAdmin() {
  try { showDispatch(await api("/dispatch")); } catch (_) { /* no right */ }
  if (!can("manage_users")) return;
  const data = await api("/users");
  $("user-rows").replaceChildren(...data.users.map((u) => {
    const toggle = el("button", { type: "button", text: u.disabled ? "Enable" : "Disable" });
    toggle.addEventListener("click", async () => {
      try { await api(`/users/${encodeURIComponent(u.login)}`, { method: "POST", body: { disabled: !u.disabled } }); }
      catch (error) { $("user-message").textContent = error.message; }
      loadAdmin();
    });
    return el("tr", { "data-login": u.login }, el("td", { text: u.login }), el("td", { text: u.role }),
      el("td", { text: u.disabled ? "disabled" : "active" }), el("td", { text: fmtTime(u.created_at) }),
      el("td", {}, u.login === state.me.login ? null : toggle));
  }));
}

$("dispatch-toggle").addEventListener("click", async () => {
  const message = $("dispatch-message");
  try {
    showDispatch(await api("/dispatch", { method: "POST",
      body: { suspended: !state.dispatch.suspended, reason: $("dispatch-reason").value } }));
    message.className = "message good"; message.textContent = "Saved.";
  } catch (error) { message.className = "message bad"; message.textContent = error.message; }
});

$("user-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const message = $("user-message");
  try {
    await api("/users", { method: "POST", body: { login: $("new-login").value,
      role: $("new-role").value, password: $("new-password").value } });
    $("new-password").value = ""; $("new-login").value = "";
    message.className = "message good"; message.textContent = "Account created.";
    loadAdmin();
  } catch (error) { message.className = "message bad"; message.textContent = error.message; }
});

start();
