// Rendering: conversation bubbles, the latency waterfall, alerts, toasts. No state of its own.

export const $ = (id) => document.getElementById(id);

const STAGES = [
  ["end_of_turn", "End of turn"],
  ["transcript", "Speech to text"],
  ["first_token", "First token"],
  ["first_chunk", "First sentence"],
  ["first_audio", "First audio"],
  ["playback_start", "Playback"],
  ["turn_end", "Turn done"],
];

export function setConn(kind, text) {
  const el = $("conn");
  el.dataset.state = kind;
  el.textContent = text;
}

export function setLive(kind, text) {
  $("live").dataset.state = kind;
  $("live-text").textContent = text;
}

export function scrollHistory() {
  const h = $("history");
  h.scrollTop = h.scrollHeight;
}

export function addMessage(who, text, extra) {
  $("empty-hint")?.remove();
  const li = document.createElement("li");
  li.className = `msg ${who}` + (who === "penny" && !text ? " streaming" : "");
  const label = document.createElement("span");
  label.className = "who";
  label.textContent = who === "user" ? "You" : "Penny";
  const body = document.createElement("p");
  body.className = "text";
  body.textContent = text;
  li.append(label, body);
  if (extra) {
    const meta = document.createElement("span");
    meta.className = "meta";
    meta.textContent = extra;
    li.append(meta);
  }
  $("history").append(li);
  scrollHistory();
  return li;
}

export function fmtMs(v) {
  return v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${Math.round(v)} ms`;
}

/** One row per stage: a bar from the previous stage's mark to this one's, on a shared time axis. */
export function drawWaterfall(trace) {
  const ms = trace.ms || {};
  const rows = STAGES.filter(([k]) => typeof ms[k] === "number");
  const box = $("waterfall");
  if (!rows.length) return;
  box.textContent = "";
  const total = Math.max(...rows.map(([k]) => ms[k]), 1);
  let prev = 0;
  const desc = [];
  for (const [key, label] of rows) {
    const at = Math.max(0, ms[key]);
    const row = document.createElement("div");
    row.className = `wf-row wf-${key}`;
    const name = document.createElement("span");
    name.className = "wf-label";
    name.textContent = label;
    const track = document.createElement("span");
    track.className = "wf-track";
    const bar = document.createElement("span");
    bar.className = "wf-bar";
    const start = Math.min(prev, at);
    bar.style.left = `${(100 * start) / total}%`;
    bar.style.width = `${Math.max(0.8, (100 * (at - start)) / total)}%`;
    track.append(bar);
    const val = document.createElement("span");
    val.className = "wf-ms";
    val.textContent = fmtMs(at);
    row.append(name, track, val);
    box.append(row);
    desc.push(`${label} ${fmtMs(at)}`);
    prev = Math.max(prev, at);
  }
  box.setAttribute("aria-label", `Latency of the last turn: ${desc.join(", ")}`);
  box.dataset.turn = trace.turn_id;
  const who = Object.entries(trace.backends || {}).map(([k, v]) => `${k}: ${v}`).join(" · ");
  $("trace-meta").textContent = [who, trace.intent ? `intent: ${trace.intent}` : "",
                                 trace.interrupted ? "interrupted" : ""].filter(Boolean).join(" · ");
}

let toastTimer = 0;
export function toast(text) {
  const t = $("toast");
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (t.hidden = true), 5000);
}

export function addAlert(a) {
  const list = $("alerts");
  list.querySelector(".muted")?.remove();
  const li = document.createElement("li");
  li.className = `alert ${a.kind}`;
  const kind = document.createElement("span");
  kind.className = "alert-kind";
  kind.textContent = a.kind === "timer" ? "⏰ Timer" : "🔔 Reminder";
  const text = document.createElement("span");
  text.className = "alert-text";
  text.textContent = a.text;
  const when = document.createElement("time");
  when.textContent = new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  li.append(kind, text, when);
  list.prepend(li);
  toast(a.text);
}

export function note(text) {
  const n = $("backend-note");
  n.textContent = text;
  n.hidden = false;
}
