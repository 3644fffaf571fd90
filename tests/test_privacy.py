"""Trust: nothing leaves the machine by default (checked with strace, not by reading code), and user data
is created private (600 files, 700 folders)."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from netcheck import PENNY, outside_connects, penny_env, run_file, serve_session, strace_prefix
from penny.config import PennyConfig

REPO = Path(__file__).resolve().parents[1]


def mode(p: Path) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


def not_private(root: Path) -> list[str]:
    """Everything under root (root included) that is not a 700 folder or a 600 file."""
    bad = []
    for p in [root, *root.rglob("*")]:
        m = mode(p)
        if p.is_symlink():
            continue
        if (p.is_dir() and m != 0o700) or (p.is_file() and m != 0o600):
            bad.append(f"{oct(m)} {p.relative_to(root.parent)}")
    return bad


# ---- the helpers ----
def test_private_dir_and_files(tmp_path):
    from penny.private import create_private, open_private, private_dir, write_private

    d = private_dir(tmp_path / "a" / "b" / "c")
    assert [mode(p) for p in (tmp_path / "a", tmp_path / "a" / "b", d)] == [0o700] * 3
    assert mode(create_private(tmp_path / "x" / "db")) == 0o600 and mode(tmp_path / "x") == 0o700
    assert mode(write_private(tmp_path / "t", "secret")) == 0o600
    with open_private(tmp_path / "log", "a", encoding="utf-8") as f:
        f.write("one\n")
    with open_private(tmp_path / "log", "a", encoding="utf-8") as f:
        f.write("two\n")
    assert (tmp_path / "log").read_text() == "one\ntwo\n" and mode(tmp_path / "log") == 0o600
    (tmp_path / "elsewhere").write_text("keep")
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OSError):  # a planted symlink (say in /tmp) is not followed
        open_private(tmp_path / "link", "wb")
    assert (tmp_path / "elsewhere").read_text() == "keep"


def test_history_database_and_its_wal_are_private(tmp_path):
    from penny.memory.store import MemoryStore, Turn

    db = tmp_path / "data" / "penny.db"
    store = MemoryStore(db)
    try:
        store.add_turn(Turn(session_id="s1", turn_id="t1", created=time.time(), user_text="my secret",
                            reply_text="noted"))
        files = sorted(p.name for p in db.parent.iterdir())
        assert {"penny.db", "penny.db-wal", "penny.db-shm"} <= set(files), files
        assert not_private(db.parent) == []
    finally:
        store.close()


def test_notes_timers_calendar_writes_and_tts_cache_are_private(tmp_path):
    from penny.adapters.tts.cache import DiskCache
    from penny.core.events import AudioChunk
    from penny.plugins.store import JsonStore, atomic_write

    JsonStore(tmp_path / "home" / "notes.json", {"notes": []}).save({"notes": ["buy milk"]})
    atomic_write(tmp_path / "home" / "calendar" / "penny.ics", b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    cache = DiskCache(tmp_path / "home" / "tts-cache")
    cache.put("piper:x", "hello", AudioChunk(np.zeros(160, np.int16), 16000))
    assert cache.get("piper:x", "hello") is not None
    assert not_private(tmp_path / "home") == []


def test_json_log_file_is_private(tmp_path):
    from penny.logs import PrivateFileHandler

    h = PrivateFileHandler(str(tmp_path / "penny.log"), encoding="utf-8")
    h.emit(logging.LogRecord("penny", logging.INFO, __file__, 1, "you said: my secret", None, None))
    h.close()
    assert mode(tmp_path / "penny.log") == 0o600


def test_token_and_self_signed_certificate_are_private(tmp_path, monkeypatch):
    import importlib.util

    if importlib.util.find_spec("cryptography") is None and not shutil.which("openssl"):
        pytest.skip("needs the cryptography package or the openssl command")
    from penny.config import ServerConfig
    from penny.server.auth import load_or_create_token
    from penny.server.tls import ensure_self_signed

    monkeypatch.setenv("PENNY_HOME", str(tmp_path / "home"))
    token, created = load_or_create_token(ServerConfig())
    assert created and len(token) >= 16
    ensure_self_signed(tmp_path / "home" / "tls", "127.0.0.1")
    assert not_private(tmp_path / "home") == []


def test_older_loose_files_are_tightened_once_and_logged(tmp_path, caplog):
    from penny.private import tighten_existing

    home = tmp_path / "home"
    (home / "tts-cache" / "ab").mkdir(parents=True)
    for p in (home / "penny.db", home / "notes.json", home / "tts-cache" / "ab" / "x.pcm"):
        p.write_text("x")
        p.chmod(0o644)
    for d in (home, home / "tts-cache", home / "tts-cache" / "ab"):
        d.chmod(0o755)
    outside = tmp_path / "shared.txt"
    outside.write_text("not Penny's")
    outside.chmod(0o644)
    (home / "link").symlink_to(outside)
    with caplog.at_level(logging.INFO, logger="penny.private"):
        changed = tighten_existing(paths=[(home, True)])
    assert len(changed) == 6 and not_private(home) == []
    assert mode(outside) == 0o644  # symlinks are neither changed nor followed
    assert "private" in caplog.text and "6 existing" in caplog.text
    caplog.clear()
    (home / "notes.json").chmod(0o644)
    assert tighten_existing(paths=[(home, True)]) == []  # once per process
    assert caplog.text == ""


def test_tightening_never_walks_a_home_or_shared_folder(tmp_path, monkeypatch, caplog):
    from penny.private import tighten_existing

    monkeypatch.setattr(Path, "home", classmethod(lambda cls: tmp_path))
    (tmp_path / "mine.txt").write_text("x")
    (tmp_path / "mine.txt").chmod(0o644)
    assert tighten_existing(paths=[(tmp_path, True), (tmp_path.parent, True)]) == []
    assert mode(tmp_path / "mine.txt") == 0o644 and "not a folder of Penny's own" in caplog.text


def test_cli_start_up_tightens_an_older_home(tmp_path):
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    (home / "timers.json").write_text('{"items": []}')
    (home / "timers.json").chmod(0o644)
    env = penny_env(home)
    out = subprocess.run([*PENNY, "config", "check"], env=env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert not_private(home) == []
    assert "private" in out.stderr


# ---- what leaves the machine ----
def test_quiet_libraries_sets_the_opt_outs(monkeypatch):
    from penny.privacy import quiet_libraries

    monkeypatch.delenv("ORT_DISABLE_TELEMETRY", raising=False)
    monkeypatch.delenv("HF_HUB_DISABLE_TELEMETRY", raising=False)
    quiet_libraries()
    assert os.environ["ORT_DISABLE_TELEMETRY"] == "1" and os.environ["HF_HUB_DISABLE_TELEMETRY"] == "1"


def _network(data: dict):
    from penny.doctor import run_checks

    checks = asyncio.run(run_checks(PennyConfig.model_validate(data), only={"network"}))
    return next(c for c in checks if c.component == "network")


def test_doctor_says_no_network_on_the_defaults():
    assert _network({}).detail == "none used"
    example = json.loads((REPO / "penny_config.json").read_text())  # LM Studio on localhost
    assert _network(example).detail == "none used"
    on_this_machine = {"llm": {"provider": "ollama", "fallbacks": [{"provider": "llamacpp",
                                                                    "base_url": "http://127.0.0.1:8080"}]},
                       "plugins": {"calendar": {"sources": ["~/cal/home.ics"]}}, "tts": {"fallbacks": ["espeak"]}}
    assert _network(on_this_machine).detail == "none used"
    assert _network({"plugins": {"weather": {"latitude": None}}}).detail == "none used"  # no location: no call


def test_doctor_lists_every_configured_service():
    check = _network({
        "llm": {"provider": "openai", "api_key": "sk-x", "fallbacks": [
            {"provider": "ollama", "base_url": "http://192.168.1.20:11434"}]},
        "plugins": {"calendar": {"sources": ["https://dav.example.org/cal/", "webcal://example.com/x.ics",
                                             "/home/me/local.ics"]},
                    "weather": {"latitude": 52.5, "longitude": 13.4}},
        "tts": {"provider": "piper", "fallbacks": ["gtts", "espeak"]},
    })
    assert check.status == "ok" and check.detail.startswith("will contact: ")
    for where in ("https://api.openai.com/v1", "http://192.168.1.20:11434", "https://dav.example.org/cal/",
                  "webcal://example.com/x.ics", "https://api.open-meteo.com/v1/forecast",
                  "https://translate.google.com"):
        assert where in check.detail
    assert "local.ics" not in check.detail


def test_local_only_never_lists_the_cloud():
    check = _network({"llm": {"provider": "embedded", "mode": "local_only",
                              "fallbacks": [{"provider": "openai", "api_key": "sk-x"}]}})
    assert check.detail == "none used"


def _can_strace() -> bool:
    if not shutil.which("strace"):
        return False
    return subprocess.run(["strace", "-f", "-qq", "-e", "trace=connect", "-o", os.devnull, "true"],
                          capture_output=True).returncode == 0


@pytest.fixture
def question_wav(tmp_path, espeak_say):
    return espeak_say("What time is it?", tmp_path / "question.wav")


@pytest.mark.slow
@pytest.mark.skipif(not _can_strace(), reason="needs strace (make test installs it) and ptrace")
def test_default_runs_make_no_outside_connection(tmp_path, question_wav):
    """`penny run-file` and a `penny serve` session (chat + health) under strace: every connect() and
    addressed send goes to loopback or a local socket. Before privacy.py: DNS look-ups of
    mobile.events.data.microsoft.com (onnxruntime's telemetry), 2 in run-file and 4-6 in serve."""
    home = tmp_path / "home"
    trace = tmp_path / "run-file.strace"
    result = run_file(question_wav, home, strace_prefix(trace))
    assert result["rc"] == 0, result["stderr"]
    bad, loopback = outside_connects(trace.read_text())
    assert bad == [], "run-file connected outside:\n" + "\n".join(bad[:10])
    assert loopback > 0  # strace saw the embedded model's loopback traffic: the check itself works

    trace = tmp_path / "serve.strace"
    session = serve_session(home, strace_prefix(trace))
    assert session["chat"][0] == 200 and session["chat"][1]["text"], session["log"]
    assert session["health"][0] in (200, 503), session["log"]
    bad, loopback = outside_connects(trace.read_text())
    assert bad == [], "serve connected outside:\n" + "\n".join(bad[:10])
    assert loopback > 0


def _can_unshare() -> bool:
    if not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _can_unshare(), reason="needs `unshare -n` (root or user namespaces)")
def test_startup_in_a_network_namespace_does_not_wait(tmp_path, question_wav, record_property):
    """Only a loopback exists: nothing may hang on DNS or connect timeouts. Times are reported, not asserted."""
    home = tmp_path / "home"
    env = penny_env(home)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "tests"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    t0 = time.monotonic()
    done = subprocess.run(["unshare", "-n", sys.executable, str(REPO / "tests" / "netcheck.py"), str(question_wav),
                           str(home)], env=env, capture_output=True, text=True, timeout=420)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["run_file"]["rc"] == 0, out["run_file"]["stderr"]
    assert out["serve"]["chat"][0] == 200, out["serve"]["log"]
    report = {"run_file_s": out["run_file"]["seconds"], "serve_ready_s": out["serve"]["ready_s"],
              "serve_session_s": out["serve"]["seconds"], "total_s": round(time.monotonic() - t0, 1)}
    record_property("no_network_times", report)
    print("no-network start-up:", report)  # shown with -s


@pytest.mark.slow
def test_real_flows_leave_only_private_files(tmp_path):
    """A fresh PENNY_HOME after a chat that writes history, a timer, a note and a calendar event, with a
    JSON log, plus a spoken reply through the TTS cache: every folder 700, every file 600."""
    home = tmp_path / "home"
    cfg = tmp_path / "penny_config.json"
    cfg.write_text(json.dumps({"plugins": {"calendar": {"sources": [str(home / "calendar" / "penny.ics")],
                                                        "confirm_writes": False}}}))
    env = penny_env(home)
    lines = ["set a timer for 10 minutes", "take a note buy milk", "add dentist to my calendar tomorrow at 3 pm",
             "hello there"]
    chat = subprocess.Popen([*PENNY, "-c", str(cfg), "--log-json", str(home / "logs" / "penny.jsonl"), "chat"],
                            env=env, cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    out, err = chat.communicate("\n".join(lines) + "\n", timeout=240)
    assert chat.returncode == 0, err[-2000:]
    assert "timer" in out.lower() and "calendar" in out.lower(), out
    say = subprocess.run([*PENNY, "-c", str(cfg), "say", "Hello, I'm Penny.", "--out", str(tmp_path / "r.wav")],
                         env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert say.returncode == 0, say.stderr[-2000:]
    names = {p.name for p in home.rglob("*")}
    assert {"penny.db", "timers.json", "notes.json", "penny.ics", "tts-cache", "penny.jsonl"} <= names, names
    assert any(p.suffix == ".pcm" for p in (home / "tts-cache").rglob("*"))
    assert not_private(home) == []
    for log in Path(tempfile.gettempdir()).glob(f"penny-llama-server-{chat.pid}-*.log"):
        assert mode(log) == 0o600, log  # the embedded model server's log
