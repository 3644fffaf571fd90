// Penny's browser client: microphone -> WebSocket -> Penny -> reply text + audio. No dependencies.
// Protocol: docs/protocol.md. Test hooks: window.penny (counters the browser test reads).

import { Mic, Player, PROTOCOL, decodeReplyFrame, encodeMicFrame } from "./audio.js";
import { $, addAlert, addMessage, drawWaterfall, note, scrollHistory, setConn, setLive, toast } from "./view.js";

const state = {
  token: null,
  ws: null,
  sessionId: localStorage.getItem("penny.session") || null,
  mode: localStorage.getItem("penny.mode") || null,
  micOn: false,
  pttDown: false,
  seq: 0,
  retry: 0,
  fatal: false,
  replyEl: null,
  heardPending: false,
  gateOpen: null, // wake_word mode: true = listening to the user, false = only waiting for the wake word
  wakeWord: "",
};
// What the browser test (and a curious developer) can read.
const stats = (window.penny = {
  connected: false, events: [], transcripts: [], replies: [], traces: [], alerts: [],
  audioFrames: 0, audioSamples: 0, audioSeconds: 0, micFrames: 0, lastError: null, listening: [],
});

// ---------- token ----------
function initToken() {
  const m = location.hash.match(/token=([A-Za-z0-9_\-]+)/);
  if (m) {
    localStorage.setItem("penny.token", m[1]);
    history.replaceState(null, "", location.pathname + location.search);
  }
  state.token = localStorage.getItem("penny.token");
}

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(options.json);
  }
  const r = await fetch(path, { ...options, headers });
  if (r.status === 401) {
    askToken();
    throw new Error("unauthorized");
  }
  return r;
}

function askToken() {
  const dlg = $("token-dialog");
  if (dlg.open) return;
  dlg.showModal();
  $("token-form").onsubmit = () => {
    state.token = $("token-input").value.trim();
    localStorage.setItem("penny.token", state.token);
    state.fatal = false;
    refreshStatus();
    connect();
  };
}

// ---------- audio ----------
const player = new Player((on) => document.body.classList.toggle("speaking", on));
Object.defineProperty(stats, "playing", { get: () => player.playing });
Object.defineProperty(stats, "playedBuffers", { get: () => player.played });
const mic = new Mic(onMicFrame, () => stopMic());

async function startMic() {
  if (state.micOn) return true;
  try {
    await mic.start(player.ensure());
  } catch (err) {
    const why = window.isSecureContext ? err.message : "the page is not on HTTPS (see docs: phones on the LAN)";
    toast(`Microphone unavailable: ${why}`);
    return false;
  }
  state.micOn = true;
  const aec = mic.echoCancellation;
  $("aec").textContent = aec === undefined ? "unknown" : aec ? "on (browser)" : "off";
  $("aec-chip").hidden = false;
  renderMic();
  return true;
}

function stopMic() {
  if (!state.micOn) return;
  if (state.pttDown) pttUp();
  mic.stop();
  state.micOn = false;
  $("level").style.transform = "scaleY(0)";
  renderMic();
}

function onMicFrame(pcm, level) {
  $("level").style.transform = `scaleY(${Math.min(1, level * 6).toFixed(3)})`;
  const ws = state.ws;
  if (!ws || ws.readyState !== WebSocket.OPEN) return;
  if (state.mode === "push_to_talk" && !state.pttDown) return;
  if (ws.bufferedAmount > 256 * 1024) return; // network stalled: drop rather than queue forever
  ws.send(encodeMicFrame(pcm, state.seq++));
  stats.micFrames++;
}

// ---------- WebSocket ----------
function connect() {
  if (state.ws && state.ws.readyState <= WebSocket.OPEN) return;
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
  const protocols = ["penny.v1"];
  if (state.token) protocols.push(`penny-token.${state.token}`);
  setConn("connecting", "Connecting…");
  const ws = new WebSocket(url, protocols);
  ws.binaryType = "arraybuffer";
  state.ws = ws;
  ws.onopen = () => {
    state.retry = 0;
    send({ type: "hello", protocol: PROTOCOL, client: "penny-web/1", mode: state.mode || undefined,
           session_id: state.sessionId || undefined });
  };
  ws.onmessage = (e) => (typeof e.data === "string" ? onEvent(JSON.parse(e.data)) : onAudio(e.data));
  ws.onclose = (e) => {
    stats.connected = false;
    if (state.ws === ws) state.ws = null;
    if (state.fatal) return;
    const wait = Math.min(10000, 500 * 2 ** state.retry++);
    setConn("offline", e.code === 1008 ? "Refused (token or origin)" : `Offline — retrying in ${Math.round(wait / 1000)} s`);
    if (e.code === 1008 || (e.code === 1006 && state.retry > 2)) {
      api("/api/health").catch(() => {}); // a 401 here opens the token dialog
    }
    setTimeout(connect, wait);
  };
}

function send(msg) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(msg));
}

function onAudio(buf) {
  const frame = decodeReplyFrame(buf);
  if (!frame) return;
  stats.audioFrames++;
  stats.audioSamples += frame.pcm.length;
  stats.audioSeconds += frame.pcm.length / frame.rate;
  player.play(frame.stream, frame.rate, frame.pcm);
}

function onEvent(m) {
  stats.events.push(m.type);
  switch (m.type) {
    case "hello":
      stats.connected = true;
      state.sessionId = m.session_id;
      localStorage.setItem("penny.session", m.session_id);
      state.mode = m.mode;
      state.gateOpen = null;
      localStorage.setItem("penny.mode", m.mode);
      renderMode();
      setConn("online", "Connected");
      setModel(m.llm);
      $("voice").textContent = m.voice.voice ? `${m.voice.voice}` : m.voice.engine;
      $("voice").title = `${m.voice.engine}${m.voice.voice ? " · " + m.voice.voice : ""}, ${m.audio.out.sample_rate} Hz`;
      loadHistory();
      break;
    case "speech.start":
      if (player.playing) player.stop(player.stream); // barge-in: silence at once
      if (state.heardPending) dimLastUser();
      if (!waitingForName()) setLive("listening", "Listening…");
      break;
    case "speech.end":
      if (!waitingForName()) setLive("thinking", "Transcribing…");
      break;
    case "listening":
      stats.listening.push(m);
      state.gateOpen = m.open;
      state.wakeWord = m.wake_word || state.wakeWord;
      if (!state.replyEl) setIdle();
      break;
    case "wake":
      setLive("listening", "Yes?");
      break;
    case "transcript":
      stats.transcripts.push(m.text);
      if (m.text.trim()) {
        addMessage("user", m.text);
        state.heardPending = true;
        setLive("thinking", "Thinking…");
      } else {
        setIdle();
      }
      break;
    case "reply.start":
      if (!state.heardPending) addMessage("user", m.user_text);
      state.heardPending = false;
      state.replyEl = addMessage("penny", "");
      state.replyEl.dataset.turn = m.turn_id;
      setLive("thinking", "Penny is answering…");
      break;
    case "reply.delta":
      if (state.replyEl && state.replyEl.dataset.turn === m.turn_id) {
        state.replyEl.querySelector(".text").textContent += m.text;
        scrollHistory();
      }
      break;
    case "reply.done": {
      const el = state.replyEl && state.replyEl.dataset.turn === m.turn_id ? state.replyEl : null;
      if (el) {
        if (m.text) el.querySelector(".text").textContent = m.text;
        el.classList.remove("streaming");
        if (m.interrupted) el.classList.add("interrupted");
      }
      stats.replies.push(m.text);
      state.replyEl = null;
      setIdle();
      break;
    }
    case "audio.start":
      player.stream = m.stream;
      break;
    case "audio.stop":
      player.stop(m.stream);
      break;
    case "interrupted": // the turn was cut: even audio already received must not play on
      if (player.playing) player.stop(player.stream);
      break;
    case "turn.trace":
      stats.traces.push(m);
      drawWaterfall(m);
      break;
    case "alert":
      stats.alerts.push(m);
      addAlert(m);
      break;
    case "backend.switched":
      note(`Using ${m.to}: ${m.from} failed (${m.reason})`);
      break;
    case "llm.active":
      setModel(m);
      break;
    case "error":
      stats.lastError = m;
      if (m.fatal) state.fatal = m.code === "protocol-version";
      toast(m.message || m.code);
      if (state.replyEl) setIdle();
      break;
    default:
      break;
  }
}

// ---------- rendering ----------
function waitingForName() {
  return state.mode === "wake_word" && state.gateOpen === false;
}

function setIdle() {
  if (!state.micOn) return setLive("off", "Microphone off");
  if (state.mode === "wake_word" && state.gateOpen !== null) {
    return state.gateOpen ? setLive("open", "Listening — go ahead") : setLive("waiting", idleText());
  }
  setLive("idle", idleText());
}

function idleText() {
  if (state.mode === "wake_word") {
    const word = (state.wakeWord || "hey penny").replace(/\b\w/g, (c) => c.toUpperCase());
    return `Waiting for “${word}”…`;
  }
  return { always_listening: "Listening for speech…",
           push_to_talk: "Hold the button or the space bar to talk" }[state.mode] || "Ready";
}

function dimLastUser() {
  const users = $("history").querySelectorAll(".msg.user");
  const last = users[users.length - 1];
  if (last) {
    last.classList.add("ignored");
    last.title = "Not addressed to Penny (no wake word)";
  }
  state.heardPending = false;
}

async function loadHistory() {
  if (!state.sessionId || $("history").querySelector(".msg")) return;
  try {
    const r = await api(`/api/history?session_id=${encodeURIComponent(state.sessionId)}&limit=20`);
    if (!r.ok) return;
    const { turns } = await r.json();
    if ($("history").querySelector(".msg")) return;
    for (const t of turns) {
      const when = new Date(t.created * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      addMessage("user", t.user_text, when).classList.add("past");
      const p = addMessage("penny", t.reply_text || "…");
      p.classList.remove("streaming");
      p.classList.add("past");
      if (t.interrupted) p.classList.add("interrupted");
    }
  } catch (_) { /* history is a nicety */ }
}

// ---------- status strip ----------
let modelsLoaded = false;
function setModel(llm) {
  if (!llm) return;
  const sel = $("model-select");
  const value = `${llm.backend}\u0000${llm.model}`;
  if (![...sel.options].some((o) => o.value === value)) {
    const o = new Option(`${llm.model || "default"} (${llm.backend})`, value);
    sel.prepend(o);
  }
  sel.value = value;
  sel.title = `Backend: ${llm.backend}`;
}

async function loadModels() {
  try {
    const r = await api("/api/models");
    const body = await r.json();
    const sel = $("model-select");
    sel.textContent = "";
    for (const [backend, names] of Object.entries(body.models || {})) {
      const group = document.createElement("optgroup");
      group.label = backend;
      for (const n of names) group.append(new Option(n, `${backend}\u0000${n}`));
      if (names.length) sel.append(group);
    }
    // Pulled catalogue LLMs load into the embedded backend (`penny models pull NAME` adds more).
    const pulled = (body.catalogue || []).filter((m) => m.kind === "llm" && m.pulled);
    if (pulled.length) {
      const group = document.createElement("optgroup");
      group.label = "downloaded (embedded)";
      for (const m of pulled) group.append(new Option(`${m.name} (${m.size_mb} MB)`, `\u0000${m.name}`));
      sel.append(group);
    }
    setModel(body.active);
    modelsLoaded = true;
  } catch (_) { /* shown as unknown */ }
}

async function switchModel() {
  const [backend, model] = $("model-select").value.split("\u0000");
  try {
    const r = await api("/api/models/active", { method: "POST", json: { model, backend: backend || null } });
    const body = await r.json();
    if (!r.ok) throw new Error(body.error?.message || r.statusText);
    setModel(body.active);
    toast(`Now using ${body.active.model} (${body.active.backend})`);
  } catch (err) {
    toast(`Could not switch model: ${err.message}`);
    loadModels();
  }
}

async function refreshHealth() {
  try {
    const r = await api("/api/health");
    const body = await r.json();
    const dots = $("health-dots");
    dots.textContent = "";
    const rows = $("health-rows");
    rows.textContent = "";
    let fails = 0, warns = 0;
    for (const c of body.checks) {
      const cls = { ok: "ok", fail: "fail", warn: "warn" }[c.status] || "na";
      if (cls === "fail" && c.required) fails++;
      if (cls === "warn") warns++;
      const d = document.createElement("span");
      d.className = `dot ${cls}`;
      d.title = `${c.component}: ${c.status}`;
      dots.append(d);
      const tr = document.createElement("tr");
      for (const v of [c.component, c.status, [c.detail, c.fix].filter(Boolean).join(" — ")]) {
        const td = document.createElement("td");
        td.textContent = v;
        tr.append(td);
      }
      tr.className = cls;
      rows.append(tr);
    }
    $("health-text").textContent = fails ? `${fails} failing` : warns ? `OK, ${warns} warning${warns > 1 ? "s" : ""}` : "All OK";
    $("health").dataset.state = fails ? "fail" : warns ? "warn" : "ok";
  } catch (_) {
    $("health-text").textContent = "unknown";
  }
}

function refreshStatus() {
  refreshHealth();
  if (!modelsLoaded) loadModels();
}

// ---------- controls ----------
function renderMode() {
  for (const r of document.querySelectorAll('input[name="mode"]')) r.checked = r.value === state.mode;
  const ptt = state.mode === "push_to_talk";
  $("ptt-btn").hidden = !ptt;
  if (state.micOn) setIdle();
}

function renderMic() {
  const b = $("mic-btn");
  b.setAttribute("aria-pressed", String(state.micOn));
  $("mic-label").textContent = state.micOn ? "Stop microphone" : "Start microphone";
  b.classList.toggle("on", state.micOn);
  setIdle();
}

function interrupt() {
  player.stop(player.stream);
  send({ type: "interrupt" });
}

async function pttDownFn() {
  if (state.pttDown) return;
  if (!state.micOn && !(await startMic())) return;
  state.pttDown = true;
  player.stop(player.stream);
  $("ptt-btn").classList.add("down");
  $("ptt-btn").setAttribute("aria-pressed", "true");
  send({ type: "start" });
  setLive("listening", "Listening… release to send");
}

function pttUp() {
  if (!state.pttDown) return;
  state.pttDown = false;
  $("ptt-btn").classList.remove("down");
  $("ptt-btn").setAttribute("aria-pressed", "false");
  send({ type: "stop" });
}

function typingTarget(el) {
  return el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable);
}

function wire() {
  $("mic-btn").addEventListener("click", () => (state.micOn ? stopMic() : startMic()));
  $("stop-btn").addEventListener("click", interrupt);
  const ptt = $("ptt-btn");
  ptt.addEventListener("pointerdown", (e) => { e.preventDefault(); ptt.setPointerCapture?.(e.pointerId); pttDownFn(); });
  for (const ev of ["pointerup", "pointercancel", "lostpointercapture"]) ptt.addEventListener(ev, pttUp);
  ptt.addEventListener("keydown", (e) => { if ((e.key === "Enter" || e.key === " ") && !e.repeat) { e.preventDefault(); pttDownFn(); } });
  ptt.addEventListener("keyup", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); pttUp(); } });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") interrupt();
    if (e.code === "Space" && !e.repeat && state.mode === "push_to_talk" && !typingTarget(e.target)
        && e.target !== ptt) {
      e.preventDefault();
      pttDownFn();
    }
  });
  document.addEventListener("keyup", (e) => {
    if (e.code === "Space" && state.pttDown && e.target !== ptt) { e.preventDefault(); pttUp(); }
  });
  window.addEventListener("blur", pttUp);
  for (const r of document.querySelectorAll('input[name="mode"]')) {
    r.addEventListener("change", () => {
      state.mode = r.value;
      localStorage.setItem("penny.mode", r.value);
      renderMode();
      send({ type: "mode", mode: r.value });
    });
  }
  $("text-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const input = $("text-input");
    const text = input.value.trim();
    if (!text) return;
    player.ensure(); // a user gesture: lets reply audio play
    player.stop(player.stream);
    addMessage("user", text);
    state.heardPending = true;
    send({ type: "text", text });
    input.value = "";
  });
  $("model-select").addEventListener("change", switchModel);
  $("health").addEventListener("click", () => {
    const panel = $("health-panel");
    panel.hidden = !panel.hidden;
    $("health").setAttribute("aria-expanded", String(!panel.hidden));
  });
}

initToken();
wire();
connect();
refreshStatus();
setInterval(refreshHealth, 120000);
