// The Wyoming satellites Penny drives (GET /api/satellites): one row per room with its state.
// The panel stays hidden on a Penny without satellites.
const LABELS = { connecting: "connecting…", connected: "connected", listening: "listening",
  speaking: "speaking", reconnecting: "reconnecting…", stopped: "stopped" };

async function refresh() {
  const token = localStorage.getItem("penny.token");
  let body;
  try {
    const r = await fetch("/api/satellites", { headers: token ? { Authorization: `Bearer ${token}` } : {} });
    if (!r.ok) return;
    body = await r.json();
  } catch {
    return; // the server is away; the connection chip says so
  }
  const sats = body.satellites || [];
  document.getElementById("satellites-panel").hidden = sats.length === 0;
  const list = document.getElementById("satellites");
  list.replaceChildren(...sats.map((s) => {
    const li = document.createElement("li");
    li.dataset.state = s.state;
    li.title = s.last_error && s.state !== "connected" ? `${s.uri}: ${s.last_error}` : s.uri;
    const dot = document.createElement("span");
    dot.className = "dot";
    dot.setAttribute("aria-hidden", "true");
    const name = document.createElement("span");
    name.textContent = s.name;
    const state = document.createElement("span");
    state.className = "sat-state";
    state.textContent = LABELS[s.state] || s.state;
    li.append(dot, name, state);
    return li;
  }));
}

refresh();
setInterval(refresh, 2000);
