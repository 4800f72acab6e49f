// The demo page's script: the canvas, its strokes, and the calls to the server's API
// (pixelbayes/server.py). Everything numeric is done there, by the suite's own functions.
"use strict";

const ink = document.getElementById("ink");
const guide = document.getElementById("guide");
const pen = ink.getContext("2d");
const keep = document.getElementById("keep");
const PEN_WIDTH = 18;                    // px on the 280 px sheet: about MNIST's strokes
let strokes = [];                        // each a list of [x, y] in sheet pixels
let drawing = null;
let keepMoved = false;                   // the user moved the line: it stays where they put it
let asked = 0, answered = 0, lastSent = 0;
let info = null;

function el(tag, attrs = {}, text = "") {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text) e.textContent = text;
  return e;
}

function setStatus(text) { document.getElementById("status").textContent = text; }

function paint() {
  pen.fillStyle = "#fff";
  pen.fillRect(0, 0, ink.width, ink.height);
  pen.strokeStyle = "#000";
  pen.lineWidth = PEN_WIDTH;
  pen.lineCap = pen.lineJoin = "round";
  for (const s of strokes) {
    pen.beginPath();
    pen.moveTo(s[0][0], s[0][1]);
    for (const [x, y] of s.length > 1 ? s.slice(1) : [s[0]]) pen.lineTo(x, y);
    pen.stroke();
  }
  if (!keepMoved) keep.value = String(Math.round(100 * lastInkRow() / ink.height));
  paintGuide();
}

function lastInkRow() {                 // the lowest row the pen reached, 0 when blank
  let low = 0;
  for (const s of strokes) for (const [, y] of s) low = Math.max(low, y + PEN_WIDTH / 2);
  return Math.min(low, ink.height);
}

function paintGuide() {                 // MNIST's 20x20 box in 28x28, and the line of "keep"
  const g = guide.getContext("2d");
  g.clearRect(0, 0, guide.width, guide.height);
  const m = guide.width * 4 / 28;
  g.setLineDash([4, 4]);
  g.strokeStyle = "#bbb";
  g.lineWidth = 1;
  g.strokeRect(m, m, guide.width - 2 * m, guide.height - 2 * m);
  const y = guide.height * keep.value / 100;
  g.setLineDash([]);
  g.strokeStyle = "rgba(220, 80, 40, 0.8)";
  g.beginPath(); g.moveTo(0, y); g.lineTo(guide.width, y); g.stroke();
}

function point(event) {
  const r = ink.getBoundingClientRect();
  return [(event.clientX - r.left) * ink.width / r.width, (event.clientY - r.top) * ink.height / r.height];
}

ink.addEventListener("pointerdown", (event) => {
  ink.setPointerCapture(event.pointerId);
  drawing = [point(event)];
  strokes.push(drawing);
  paint();
});
ink.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  drawing.push(point(event));
  paint();
  if (performance.now() - lastSent > 250) read();      // live, a few times a second
});
for (const name of ["pointerup", "pointercancel"]) {
  ink.addEventListener(name, () => { if (drawing) { drawing = null; read(); } });
}
document.getElementById("clear").onclick = () => { strokes = []; keepMoved = false; paint(); read(); };
document.getElementById("undo").onclick = () => { strokes.pop(); paint(); read(); };
keep.addEventListener("input", () => { keepMoved = true; paintGuide(); });

function sheet() { return new Promise((done) => ink.toBlob(done, "image/png")); }

async function call(path, options = {}) {
  const response = await fetch(path, options);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

async function read() {                 // the newest drawing wins; older answers are dropped
  lastSent = performance.now();
  const id = ++asked;
  try {
    const body = await call("/api/read", { method: "POST", headers: { "Content-Type": "image/png" }, body: await sheet() });
    if (id < answered) return;
    answered = id;
    show(body);
    setStatus(`read in ${Math.round(body.seconds * 1000)} ms by the ${info ? info.profile : ""} models`);
  } catch (err) {
    setStatus("error: " + err.message);
  }
}

function show(r) {
  const v = document.getElementById("verdict");
  v.textContent = r.verdict === "digit" ? `${r.digit}` : "no digit";
  v.className = r.verdict === "digit" ? "" : "none";
  v.dataset.digit = r.digit === null ? "none" : String(r.digit);
  const reasons = r.low_scores.length ? ` (below: ${r.low_scores.join(", ").replace("no_ink", "no ink")})` : "";
  document.getElementById("evidence").textContent =
    `nearest digit ${r.nearest}. log p(x) = ${r.log_px} nats (limit ${r.limits.log_px ?? "none"}); ` +
    `log p(x) - log p_zlib(x) = ${r.log_ratio} (limit ${r.limits.log_ratio ?? "none"})${reasons}` +
    (r.read_again ? `; unexplained as it was, read ${r.reading}` : "");
  r.posterior.forEach((p, k) => {
    const bar = document.getElementById("bar" + k);
    bar.className = k === r.nearest ? "bar lead" : "bar";
    bar.querySelector(".fill").style.width = `${(100 * p).toFixed(1)}%`;
    bar.querySelector("span").textContent = p.toFixed(3);
  });
  picture(document.getElementById("form"), r.form, 255);
  picture(document.getElementById("levels"), r.levels, r.max_level);
}

function picture(canvas, rows, top, shown = null) {     // light ink on black, as MNIST's
  const n = rows.length;
  canvas.width = canvas.height = n;
  const g = canvas.getContext("2d");
  const img = g.createImageData(n, n);
  rows.flat().forEach((v, i) => {
    const level = shown && !shown[i] ? 0 : Math.round(255 * v / top);
    img.data.set([level, level, level, 255], 4 * i);
  });
  g.putImageData(img, 0, 0);
  return canvas;
}

function small(rows, top, size = 56) {
  const c = el("canvas");
  c.style.width = c.style.height = size + "px";
  return picture(c, rows, top);
}

document.getElementById("complete").onclick = async () => {
  setStatus("completing...");
  try {
    const r = await call(`/api/complete?keep=${keep.value / 100}&count=4&digits=3`,
                         { method: "POST", headers: { "Content-Type": "image/png" }, body: await sheet() });
    const out = document.getElementById("outcome");
    out.replaceChildren(el("div", {}, `kept: the top ${r.kept_rows} of ${r.levels.length} rows`));
    const kept = el("div", { class: "gallery" });
    kept.append(el("b", {}, ""), small(r.levels.map((row, i) => (i < r.kept_rows ? row : row.map(() => 0))), r.max_level));
    out.append(kept);
    for (const c of r.completions) {
      const row = el("div", { class: "gallery completion", "data-digit": String(c.digit) });
      row.append(el("b", {}, String(c.digit)), ...c.images.map((img) => small(img, r.max_level)));
      out.append(row);
    }
    setStatus("completed by the leading digits' models");
  } catch (err) {
    setStatus("error: " + err.message);
  }
};

document.getElementById("draw").onclick = async () => {
  const k = Number(document.getElementById("digit").value);
  try {
    const r = await call(`/api/draw?digit=${k}`);
    const out = document.getElementById("outcome");
    const canvas = small(r.levels, r.max_level, 168);
    canvas.id = "drawn";
    out.replaceChildren(el("div", {}, `a new ${k}, pixel by pixel in the model's reading order`), canvas);
    const shown = new Array(r.order.length).fill(false);
    let t = 0;
    const timer = setInterval(() => {
      for (let i = 0; i < 2 && t < r.order.length; i++) shown[r.order[t++]] = true;
      picture(canvas, r.levels, r.max_level, shown);
      if (t >= r.order.length) { clearInterval(timer); canvas.dataset.done = "1"; }
    }, 20);
  } catch (err) {
    setStatus("error: " + err.message);
  }
};

async function start() {
  const bars = document.getElementById("bars");
  for (let k = 0; k < 10; k++) {
    const bar = el("div", { class: "bar", id: "bar" + k });
    const track = el("div", { class: "track" });
    track.append(el("div", { class: "fill" }));
    bar.append(el("b", {}, String(k)), track, el("span", {}, "-"));
    bars.append(bar);
    document.getElementById("digit").append(el("option", { value: String(k) }, String(k)));
  }
  paint();
  try {
    info = await call("/api/info");
    setStatus(`profile ${info.profile}: ${info.size}x${info.size} images, ${info.levels} levels`);
  } catch (err) {
    setStatus("error: " + err.message);
  }
}

start();
