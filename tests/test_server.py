"""HTTP API of `penny serve`: every endpoint, auth on and off, bad payloads, size limits, static files."""
from __future__ import annotations

import io
import json
import wave

import numpy as np
import pytest

from fixtures_server import BASE, home_config, make_client, tone
from penny.server.auth import Guard, is_loopback, load_or_create_token, token_path

TOKEN = "t0ken-for-tests-0123456789abcdef"


def wav_bytes(samples: np.ndarray, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return buf.getvalue()


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    return home_config(tmp_path, monkeypatch, {"server": {"max_upload_mb": 0.5, "max_frame_kb": 64}})


@pytest.fixture
def secured(cfg, engines):
    guard = Guard(TOKEN, ["https://phone.example"], loopback_only=False)
    with make_client(cfg, engines, "http://192.168.1.20:8765", guard=guard) as c:
        yield c


def sse_events(text: str) -> list[tuple[str, dict]]:
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        out.append((lines["event"], json.loads(lines["data"])))
    return out


# ---- page and static files ----
def test_index_page_is_served_with_csp(client):
    r = client.get("/")
    assert r.status_code == 200
    assert "<title>Penny</title>" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert "http://" not in r.text.replace("http://www.w3.org", "")  # nothing from a CDN
    for asset in ("/static/app.js", "/static/audio.js", "/static/view.js", "/static/style.css",
                  "/static/mic-worklet.js"):
        assert client.get(asset).status_code == 200, asset


@pytest.mark.parametrize("path", ["/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fapp.py",
                                  "/static/%2e%2e/%2e%2e/config.py", "/static//etc/passwd"])
def test_no_directory_traversal(client, path):
    r = client.get(path)
    assert r.status_code == 404
    assert "create_app" not in r.text and "root:" not in r.text


def test_openapi_lists_every_endpoint(client):
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "cdn" not in docs.text.lower() and "/docs-assets/swagger-ui-bundle.js" in docs.text  # works offline
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("/api/chat", "/api/transcribe", "/api/speak", "/api/health", "/api/models",
              "/api/models/active", "/api/history", "/metrics"):
        assert p in paths, p


# ---- chat ----
def test_chat_streams_sse_and_keeps_the_conversation(client):
    r = client.post("/api/chat", json={"text": "hello there", "session_id": "s-1"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    kinds = [k for k, _ in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and "delta" in kinds
    deltas = "".join(d["text"] for k, d in events if k == "delta")
    assert deltas.strip() == events[-1][1]["text"]
    assert events[-1][1]["session_id"] == "s-1"
    hist = client.get("/api/history", params={"session_id": "s-1"}).json()
    assert [t["user_text"] for t in hist["turns"]] == ["hello there"]
    assert hist["turns"][0]["reply_text"] == events[-1][1]["text"]


def test_chat_without_streaming(client):
    r = client.post("/api/chat", json={"text": "hi", "stream": False})
    assert r.status_code == 200
    body = r.json()
    assert body["text"] and body["session_id"].startswith("http-")


@pytest.mark.parametrize("payload", [{}, {"text": ""}, {"text": 5}, {"text": "x" * 4001},
                                     {"text": "hi", "session_id": "../etc"}])
def test_chat_bad_payloads(client, payload):
    assert client.post("/api/chat", json=payload).status_code == 422


def test_chat_not_json(client):
    r = client.post("/api/chat", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422


# ---- transcribe ----
def test_transcribe_raw_wav_and_multipart(client):
    data = wav_bytes(tone(1.0, 8000), 8000)
    r = client.post("/api/transcribe", content=data, headers={"content-type": "audio/wav"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body["text"], str) and body["duration_s"] == pytest.approx(1.0, abs=0.01)
    r = client.post("/api/transcribe", files={"file": ("hello.wav", data, "audio/wav")})
    assert r.status_code == 200, r.text
    assert r.json()["text"] == body["text"]


@pytest.mark.parametrize("data", [b"", b"RIFF\x00\x00\x00\x00WAVEjunk", b"not audio at all" * 10])
def test_transcribe_rejects_bad_audio(client, data):
    r = client.post("/api/transcribe", content=data, headers={"content-type": "audio/wav"})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "audio-invalid"
    assert "/tmp" not in err["message"]  # our temp file name does not leak


def test_transcribe_truncated_wav(client):
    data = wav_bytes(tone(1.0))[:3000]
    r = client.post("/api/transcribe", content=data, headers={"content-type": "audio/wav"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "audio-invalid"


def test_upload_size_limit_by_header_and_by_stream(client):
    big = b"\0" * (600 * 1024)  # limit is 0.5 MB in this config
    r = client.post("/api/transcribe", content=big, headers={"content-type": "audio/wav"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "too-large"
    r = client.post("/api/transcribe", files={"file": ("big.wav", big, "audio/wav")})
    assert r.status_code == 413

    def chunks():  # no Content-Length: counted while streaming
        for _ in range(10):
            yield b"\0" * (100 * 1024)

    r = client.post("/api/transcribe", content=chunks(), headers={"content-type": "audio/wav"})
    assert r.status_code == 413
    assert client.get("/api/health").status_code in (200, 503)  # the server is fine


# ---- speak ----
def test_speak_returns_wav(client):
    r = client.post("/api/speak", json={"text": "Hello from Penny."})
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(r.content)) as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
        assert w.getframerate() in (16000, 22050, 24000)
        assert w.getnframes() > 0


@pytest.mark.parametrize("payload", [{}, {"text": ""}, {"text": "x" * 2001}])
def test_speak_bad_payloads(client, payload):
    assert client.post("/api/speak", json=payload).status_code == 422


# ---- health, models, history, metrics ----
def test_health_runs_the_doctor_checks(client):
    r = client.get("/api/health")
    assert r.status_code in (200, 503)
    body = r.json()
    assert body["healthy"] is (r.status_code == 200)
    components = {c["component"] for c in body["checks"]}
    assert "config" in components
    for c in body["checks"]:
        assert c["status"] in ("ok", "fail", "warn", "not available")
    assert body["llm"]["backend"] and body["voice"]["engine"]


def test_models_list_and_switch(client):
    body = client.get("/api/models").json()
    assert body["active"]["model"]
    assert isinstance(body["models"], dict) and body["models"]
    backend, names = next((b, m) for b, m in body["models"].items() if m)
    r = client.post("/api/models/active", json={"model": names[-1], "backend": backend})
    assert r.status_code == 200, r.text
    assert r.json()["active"] == {"backend": backend, "model": names[-1]}
    assert client.get("/api/models").json()["active"]["model"] == names[-1]


def test_models_switch_unknown(client):
    r = client.post("/api/models/active", json={"model": "no-such-model-xyz"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "model-not-found"
    assert client.post("/api/models/active", json={}).status_code == 422


def test_history_lists_sessions(client):
    client.post("/api/chat", json={"text": "one", "session_id": "hist-a", "stream": False})
    client.post("/api/chat", json={"text": "two", "session_id": "hist-b", "stream": False})
    sessions = {s["id"] for s in client.get("/api/history").json()["sessions"]}
    assert {"hist-a", "hist-b"} <= sessions
    assert client.get("/api/history", params={"session_id": "nope"}).json()["turns"] == []
    assert client.get("/api/history", params={"session_id": "bad/id"}).status_code == 422


def test_metrics_prometheus(client):
    client.post("/api/chat", json={"text": "count me", "stream": False})
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert 'penny_turns_total{channel="chat",interrupted="false"} 1.0' in r.text
    for name in ("penny_stage_latency_seconds", "penny_backend_failures_total", "penny_ws_connections"):
        assert name in r.text


def test_metrics_observe_turn_trace():
    from penny.core.events import TurnTrace
    from penny.server.metrics import Metrics

    m = Metrics()
    t = TurnTrace("t1", marks={"speech_end": 1.0, "transcript": 1.3, "first_audio": 1.9})
    t.backends["llm"] = "embedded"
    m.observe_trace(t)
    text = m.render().decode()
    assert 'penny_stage_latency_seconds_count{stage="transcript"} 1.0' in text
    assert 'penny_stage_latency_seconds_sum{stage="first_audio"} 0.9' in text
    assert 'penny_turns_total{channel="voice",interrupted="false"} 1.0' in text


# ---- safety ----
def test_loopback_refuses_foreign_host_and_origin(client):
    assert client.get("/api/models", headers={"host": "evil.example"}).status_code == 403  # DNS rebinding
    r = client.post("/api/chat", json={"text": "hi"}, headers={"origin": "https://evil.example"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "origin-not-allowed"
    r = client.post("/api/chat", json={"text": "hi", "stream": False}, headers={"origin": BASE})
    assert r.status_code == 200


@pytest.mark.parametrize("method,path,body", [
    ("get", "/api/health", None), ("get", "/api/models", None), ("post", "/api/models/active", {"model": "x"}),
    ("get", "/api/history", None), ("post", "/api/chat", {"text": "hi"}), ("post", "/api/speak", {"text": "hi"}),
    ("post", "/api/transcribe", None), ("get", "/metrics", None)])
def test_token_required_on_every_endpoint(secured, method, path, body):
    kwargs = {"json": body} if body is not None else {}
    r = getattr(secured, method)(path, **kwargs)
    assert r.status_code == 401, path
    assert r.json()["error"]["code"] == "unauthorized"
    r = getattr(secured, method)(path, headers={"authorization": "Bearer wrong-token"}, **kwargs)
    assert r.status_code == 401


def test_token_accepted(secured):
    auth = {"authorization": f"Bearer {TOKEN}"}
    assert secured.get("/api/models", headers=auth).status_code == 200
    assert secured.get("/api/models", headers={"x-penny-token": TOKEN}).status_code == 200
    assert secured.get("/metrics", headers=auth).status_code == 200
    r = secured.post("/api/chat", json={"text": "hi", "stream": False},
                     headers={**auth, "origin": "https://phone.example"})  # listed in allowed_origins
    assert r.status_code == 200
    r = secured.post("/api/chat", json={"text": "hi"}, headers={**auth, "origin": "https://evil.example"})
    assert r.status_code == 403
    assert secured.get("/").status_code == 200  # the page itself holds no secrets


def test_token_file_created_once_private(tmp_path):
    from penny.config import ServerConfig

    sc = ServerConfig(token_file=str(tmp_path / "cfg" / "token"))
    token, created = load_or_create_token(sc)
    assert created and len(token) >= 32
    assert (token_path(sc).stat().st_mode & 0o777) == 0o600
    again, created2 = load_or_create_token(sc)
    assert again == token and not created2


def test_guard_rules():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")
    g = Guard(TOKEN)
    assert g.token_ok(TOKEN) and not g.token_ok(TOKEN[:-1]) and not g.token_ok(None) and not g.token_ok("")
    assert g.origin_ok("http://127.0.0.1:8765", "127.0.0.1:8765")
    assert not g.origin_ok("http://127.0.0.1:9999", "127.0.0.1:8765")
    assert g.origin_ok("https://pc.lan", "pc.lan:443") and not g.origin_ok("null", "pc.lan")
    assert Guard().host_ok("localhost:8765") and not Guard().host_ok("attacker.example:8765")


def test_build_guard_needs_token_off_loopback(cfg, tmp_path):
    from penny.server.serve import build_guard

    g, shown = build_guard(cfg, "127.0.0.1")
    assert not g.required and shown is None
    g, shown = build_guard(cfg, "0.0.0.0")
    assert g.required and shown == g.token
    g2, shown2 = build_guard(cfg, "0.0.0.0")
    assert g2.token == g.token and shown2 is None  # printed once


def test_self_signed_certificate(tmp_path):
    import ssl

    from penny.server.tls import ensure_self_signed

    cert, key = ensure_self_signed(tmp_path / "tls", "0.0.0.0")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    assert (key.stat().st_mode & 0o777) == 0o600
    assert ensure_self_signed(tmp_path / "tls", "0.0.0.0") == (cert, key)  # reused


def test_serve_refuses_a_taken_port_before_loading_models():
    import socket

    from penny.errors import ConfigError
    from penny.server.serve import check_port

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(ConfigError, match="already in use|Cannot listen"):
            check_port("127.0.0.1", s.getsockname()[1])


def test_errors_have_one_shape(client):
    r = client.post("/api/transcribe", content=b"garbage", headers={"content-type": "multipart/form-data"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad-request"
    r = client.post("/api/chat", json={"text": ""})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid-request" and "text" in r.json()["error"]["message"]
    r = client.get("/static/nope.js")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not-found"
