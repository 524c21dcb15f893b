// strokelens serve: the assisted-drawing page. Plain JavaScript, no libraries, no network but this server.
"use strict";

const $ = (id) => document.getElementById(id);
const canvas = $("canvas");
const ctx = canvas.getContext("2d");

// What the page knows; tests read it as window.strokelensPage.
const state = {
  info: null,
  strokes: [],        // each stroke: [[xs], [ys]] in canvas pixels
  current: null,      // the stroke being drawn
  explanation: null,  // the last /api/explain reply for the current drawing
  assist: null,       // the last /api/assist reply for the current drawing
  chosen: 0,          // the suggestion drawn over the drawing
  applied: [],        // drawings before each applied suggestion (undo takes the last one back)
  colors: [],         // the colour each stroke (or piece) is drawn in
  requests: 0,        // explain requests sent
  replies: 0,         // explain replies shown
  seq: 0,             // drawing version: replies for an older drawing are dropped
  loaded: [],         // drawings of the last loaded file
};
window.strokelensPage = state;

function modelInfo() { return state.info.models[$("model").value]; }

function setMessage(text, isError = false) {
  $("message").textContent = text;
  $("message").classList.toggle("error", isError);
}

async function api(path, body) {
  const res = await fetch(path, { method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify(body) });
  const data = await res.json().catch(() => ({ error: `reply ${res.status} is not JSON` }));
  if (!res.ok) throw new Error(data.error || `error ${res.status}`);
  return data;
}

// ---------------------------------------------------------------- colours
function scoreColor(score, scale) {
  // green for, red against, grey near zero; saturation by |score| / the largest |score|
  const t = scale > 0 ? Math.max(-1, Math.min(1, score / scale)) : 0;
  const a = Math.abs(t);
  const grey = [150, 150, 150];
  const end = t >= 0 ? [26, 127, 55] : [198, 40, 40];
  const c = grey.map((g, i) => Math.round(g + (end[i] - g) * Math.sqrt(a)));
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

// ---------------------------------------------------------------- drawing
function polyline(xs, ys, color, width, dash = []) {
  ctx.strokeStyle = color;
  ctx.lineWidth = width;
  ctx.setLineDash(dash);
  ctx.beginPath();
  ctx.moveTo(xs[0], ys[0]);
  if (xs.length === 1) ctx.lineTo(xs[0] + 0.01, ys[0]);
  for (let i = 1; i < xs.length; i++) ctx.lineTo(xs[i], ys[i]);
  ctx.stroke();
  ctx.setLineDash([]);
}

function redraw() {
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  const e = state.explanation;
  const scale = e ? Math.max(...e.scores.map(Math.abs)) : 0;
  state.colors = [];
  if (e && e.units === "piece" && e.unit_points) {
    e.unit_points.forEach((pts, u) => {
      if (!pts.length) return;
      const color = scoreColor(e.scores[u], scale);
      state.colors.push(color);
      polyline(pts.map((p) => p[0]), pts.map((p) => p[1]), color, 5);
    });
  } else {
    state.strokes.forEach(([xs, ys], k) => {
      const color = e ? scoreColor(e.scores[k], scale) : "#222";
      if (e) state.colors.push(color);
      polyline(xs, ys, color, 5);
    });
  }
  const a = state.assist;
  if (a) {
    a.against.forEach((k) => {
      const [xs, ys] = state.strokes[k];
      polyline(xs, ys, "rgba(198, 40, 40, 0.25)", 13);
    });
    const s = a.suggestions[state.chosen];
    if (s) drawSuggestion(s);
  }
  if (state.current) polyline(state.current[0], state.current[1], "#222", 5);
}

function arrow(x0, y0, x1, y1, color) {
  const angle = Math.atan2(y1 - y0, x1 - x0);
  ctx.strokeStyle = ctx.fillStyle = color;
  ctx.lineWidth = 2.5;
  ctx.beginPath();
  ctx.moveTo(x0, y0);
  ctx.lineTo(x1, y1);
  ctx.stroke();
  ctx.beginPath();
  ctx.moveTo(x1, y1);
  for (const side of [-1, 1]) ctx.lineTo(x1 - 10 * Math.cos(angle + side * 0.45), y1 - 10 * Math.sin(angle + side * 0.45));
  ctx.fill();
}

// A suggestion over the drawing: removed strokes struck through, moved ones where they go (orange,
// with an arrow), added strokes dashed blue.
function drawSuggestion(s) {
  s.removed.forEach((k) => {
    const [xs, ys] = state.strokes[k];
    polyline(xs, ys, "rgba(198, 40, 40, 0.5)", 7);
    const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    polyline([x0 - 6, x1 + 6], [y1 + 6, y0 - 6], "rgb(198, 40, 40)", 3);
  });
  const kept = [...state.strokes.keys()].filter((k) => !s.removed.includes(k));
  s.moved.forEach((m) => {
    const [xs, ys] = s.strokes[kept.indexOf(m.stroke)];
    polyline(xs, ys, "rgba(230, 120, 0, 0.85)", 4);
    arrow(m.start[0], m.start[1], m.end[0], m.end[1], "rgb(230, 120, 0)");
  });
  s.added.forEach(([xs, ys]) => polyline(xs, ys, "rgba(60, 90, 220, 0.8)", 4, [9, 6]));
}

function canvasPoint(ev) {
  const r = canvas.getBoundingClientRect();
  return [(ev.clientX - r.left) * canvas.width / r.width, (ev.clientY - r.top) * canvas.height / r.height];
}

canvas.addEventListener("pointerdown", (ev) => {
  if (ev.button !== undefined && ev.button > 0) return;
  canvas.setPointerCapture(ev.pointerId);
  const [x, y] = canvasPoint(ev);
  state.current = [[x], [y]];
  ev.preventDefault();
});
canvas.addEventListener("pointermove", (ev) => {
  if (!state.current) return;
  const events = ev.getCoalescedEvents ? ev.getCoalescedEvents() : [ev];
  for (const e of events.length ? events : [ev]) {
    const [x, y] = canvasPoint(e);
    state.current[0].push(x);
    state.current[1].push(y);
  }
  redraw();
});
function endStroke(ev) {
  if (!state.current) return;
  const [x, y] = canvasPoint(ev);
  state.current[0].push(x);
  state.current[1].push(y);
  state.strokes.push(state.current.map((a) => a.map((v) => Math.round(v * 100) / 100)));
  state.current = null;
  changed();
}
canvas.addEventListener("pointerup", endStroke);
canvas.addEventListener("pointercancel", endStroke);

// ---------------------------------------------------------------- explain after every change
function changed() {
  state.seq += 1;
  state.explanation = null;
  state.assist = null;
  state.chosen = 0;
  $("assist-result").textContent = "";
  redraw();
  updateMethods();
  explain();
}

function updateMethods() {
  // exact Shapley only for small drawings: at most max_shapley_units strokes
  const info = modelInfo();
  const small = state.strokes.length <= info.max_shapley_units;
  const opt = [...$("method").options].find((o) => o.value === "shapley");
  if (opt) {
    opt.disabled = !small;
    opt.textContent = small ? "shapley (exact)" : `shapley (exact; at most ${info.max_shapley_units} strokes)`;
    if (!small && $("method").value === "shapley") $("method").value = info.default_method;
  }
}

async function explain() {
  const seq = state.seq;
  if (!state.strokes.length) {
    $("predictions").innerHTML = "";
    setMessage("Draw something: the model's reading appears after every stroke.");
    return;
  }
  state.requests += 1;
  const body = { model: $("model").value, strokes: state.strokes, method: $("method").value,
    target: $("target").value.trim() || "auto", top: 5 };
  if ($("units").value) body.units = $("units").value;
  let e = null;
  let error = null;
  try {
    e = await api("/api/explain", body);
  } catch (err) {
    error = err;
  }
  state.replies += 1;  // every request is answered, shown or not
  if (seq !== state.seq) return;  // the drawing changed since: a newer request is on its way
  if (error) {
    $("predictions").innerHTML = "";
    setMessage(error.message, true);
    redraw();
    return;
  }
  state.explanation = e;
  showPredictions(e);
  $("target-name").textContent = e.target;
  $("timing").textContent = `${e.method} on ${e.strokes} strokes (${e.units}s): ${e.milliseconds} ms`;
  setMessage(`Reads as ${e.top[0].class} (${(100 * e.top[0].probability).toFixed(1)}%).`);
  redraw();
}

function showPredictions(e) {
  const list = $("predictions");
  list.innerHTML = "";
  for (const c of e.top) {
    const li = document.createElement("li");
    li.dataset.class = c.class;
    li.textContent = `${c.class} ${(100 * c.probability).toFixed(1)}%`;
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = `${Math.max(1, 120 * c.probability)}px`;
    li.appendChild(bar);
    if (c.class === e.target) li.classList.add("target");
    li.title = "explain for this class";
    li.addEventListener("click", () => { $("target").value = c.class; changed(); });
    list.appendChild(li);
  }
}

// ---------------------------------------------------------------- assist
$("assist").addEventListener("click", async () => {
  const target = $("assist-target").value.trim();
  if (!target) { setMessage("Pick the class you meant first.", true); return; }
  if (!state.strokes.length) { setMessage("Draw something first.", true); return; }
  const seq = state.seq;
  $("assist-result").textContent = "Working…";
  try {
    const a = await api("/api/assist", { model: $("model").value, strokes: state.strokes, target, top: 3 });
    if (seq !== state.seq) return;
    state.assist = a;
    state.chosen = 0;
    showSuggestions(a);
    redraw();
  } catch (err) {
    if (seq !== state.seq) return;
    $("assist-result").textContent = err.message;
  }
});

function describe(s) {
  const parts = [];
  if (s.removed.length) parts.push(`remove stroke${s.removed.length > 1 ? "s" : ""} ${s.removed.map((k) => k + 1).join(", ")}`);
  if (s.moved.length) parts.push(`move ${s.kind === "ghost" ? "every stroke" : `stroke${s.moved.length > 1 ? "s" : ""} ${s.moved.map((m) => m.stroke + 1).join(", ")}`}`);
  if (s.added.length) parts.push(`add ${s.added.length > 1 ? `${s.added.length} strokes` : "a stroke"}`);
  return parts.join(" + ");
}

function showSuggestions(a) {
  const pct = (p) => `${(100 * p).toFixed(1)}%`;
  const box = $("assist-result");
  box.innerHTML = "";
  const head = document.createElement("p");
  head.textContent = `${a.target}: ${pct(a.target_probability)} now. ` +
    (a.suggestions.length ? "Suggestions, smallest first (click one to see it):" : "No edit found that raises it.");
  box.appendChild(head);
  const list = document.createElement("ol");
  list.id = "suggestions";
  a.suggestions.forEach((s, i) => {
    const li = document.createElement("li");
    li.dataset.kind = s.kind;
    li.classList.toggle("works", s.success);
    li.classList.toggle("chosen", i === state.chosen);
    const reads = s.success ? `reads as ${a.target}` : `reads as ${s.top[0].class}`;
    li.textContent = `${describe(s)}: ${a.target} ${pct(s.probability)}, ${reads}; ink kept ${pct(s.ink_kept)} `;
    li.addEventListener("click", () => { state.chosen = i; showSuggestions(a); redraw(); });
    const button = document.createElement("button");
    button.type = "button";
    button.className = "apply";
    button.textContent = "Apply";
    button.addEventListener("click", (ev) => { ev.stopPropagation(); apply(s); });
    li.appendChild(button);
    list.appendChild(li);
  });
  box.appendChild(list);
}

function apply(s) {
  state.applied.push({ before: state.strokes, after: s.strokes });
  state.strokes = s.strokes.map((st) => st.map((a) => a.slice()));
  changed();
}


// ---------------------------------------------------------------- undo, clear, save, load
$("undo").addEventListener("click", () => {
  // an applied suggestion, when nothing was drawn since, goes back whole; otherwise the last stroke
  const last = state.applied[state.applied.length - 1];
  if (last && JSON.stringify(last.after) === JSON.stringify(state.strokes)) {
    state.strokes = state.applied.pop().before;
    changed();
  } else if (state.strokes.length) {
    state.strokes.pop();
    changed();
  }
});
$("clear").addEventListener("click", () => { state.strokes = []; changed(); });

async function save(format) {
  if (!state.strokes.length) { setMessage("Nothing to save: the canvas is blank.", true); return; }
  const label = state.explanation ? state.explanation.top[0].class : null;
  const res = await fetch("/api/export", { method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ strokes: state.strokes, format, label }) });
  if (!res.ok) { setMessage((await res.json()).error, true); return; }
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = `drawing.${format}`;
  a.click();
  URL.revokeObjectURL(url);
}
$("save-ndjson").addEventListener("click", () => save("ndjson"));
$("save-svg").addEventListener("click", () => save("svg"));

function fitToCanvas(strokes) {
  // the loaded drawing scaled into the canvas with a margin, aspect kept
  const xs = strokes.flatMap((s) => s[0]);
  const ys = strokes.flatMap((s) => s[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const margin = 0.08 * canvas.width;
  const size = Math.max(x1 - x0, y1 - y0) || 1;
  const k = (canvas.width - 2 * margin) / size;
  const ox = (canvas.width - k * (x1 - x0)) / 2;
  const oy = (canvas.height - k * (y1 - y0)) / 2;
  const r = (v) => Math.round(v * 100) / 100;
  return strokes.map(([sx, sy]) => [sx.map((x) => r(ox + k * (x - x0))), sy.map((y) => r(oy + k * (y - y0)))]);
}

function pick(i) {
  const d = state.loaded[i];
  state.strokes = fitToCanvas(d.strokes);
  changed();
}

// Offer the drawings of a /api/load or /api/sample reply in the picker and show the first.
async function showLoaded(res) {
  const data = await res.json();
  if (!res.ok) throw new Error(data.error || `error ${res.status}`);
  state.loaded = data.drawings;
  const sel = $("pick");
  sel.innerHTML = "";
  data.drawings.forEach((d, i) => {
    const o = document.createElement("option");
    o.value = i;
    o.textContent = `#${i + 1}${d.label ? ` ${d.label}` : ""} (${d.strokes.length} strokes)`;
    sel.appendChild(o);
  });
  sel.hidden = data.drawings.length < 2;
  pick(0);
}

$("file").addEventListener("change", async () => {
  const file = $("file").files[0];
  if (!file) return;
  setMessage(`Reading ${file.name}…`);
  try {
    await showLoaded(await fetch(`/api/load?name=${encodeURIComponent(file.name)}`, { method: "POST", body: file }));
  } catch (err) {
    setMessage(err.message, true);
  }
  $("file").value = "";
});
$("samples").addEventListener("click", async () => {
  try {
    await showLoaded(await fetch("/api/sample"));
  } catch (err) {
    setMessage(err.message, true);
  }
});
$("pick").addEventListener("change", () => pick(Number($("pick").value)));

// ---------------------------------------------------------------- start
function fillMethods() {
  const info = modelInfo();
  $("method").innerHTML = "";
  for (const m of info.methods) {
    const o = document.createElement("option");
    o.value = m;
    o.textContent = m === info.default_method ? `${m} (fast)` : m;
    $("method").appendChild(o);
  }
  $("method").value = info.default_method;
  $("classes").innerHTML = "";
  for (const c of ["auto", ...info.classes]) {
    const o = document.createElement("option");
    o.value = c;
    $("classes").appendChild(o);
  }
  updateMethods();
}

async function start() {
  const res = await fetch("/api/info");
  state.info = await res.json();
  for (const name of Object.keys(state.info.models)) {
    const o = document.createElement("option");
    o.value = o.textContent = name;
    $("model").appendChild(o);
  }
  $("model").value = state.info.default_model;
  fillMethods();
  $("model").addEventListener("change", () => { fillMethods(); changed(); });
  for (const id of ["method", "units"]) $(id).addEventListener("change", changed);
  $("target").addEventListener("change", changed);
  document.body.dataset.ready = "1";
  redraw();
}
start();
