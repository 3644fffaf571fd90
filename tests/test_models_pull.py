"""`penny models pull/use` against a local stand-in for the Hugging Face Hub.

The stand-in answers like huggingface.co: HEAD/GET /{repo}/resolve/{rev}/{file} with X-Repo-Commit and
ETag (a git blob sha1 for small files); LFS files redirect to a "CDN" on another origin with X-Linked-Etag
(their sha256) and X-Linked-Size, and the CDN serves Range requests (206). It can drop or stall a
download after N bytes, or serve corrupted bytes, to test resume and checksum refusal.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

COMMIT = "0123456789abcdef0123456789abcdef01234567"
MB = 1024 * 1024


def git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class Hub:
    """Repos, request log and fault switches shared by the hub and CDN servers."""

    def __init__(self):
        self.repos: dict[str, dict[str, bytes]] = {}
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range)
        self.drop_after: dict[str, int] = {}  # filename -> bytes sent before closing (once)
        self.stall_after: dict[str, int] = {}  # filename -> bytes sent before waiting on `release` (once)
        self.corrupt: set[str] = set()
        self.unavailable = 0  # answer this many of the next CDN requests with 503
        self.release = threading.Event()
        self.sent: dict[str, int] = {}

    def add(self, repo: str, files: dict[str, bytes]) -> None:
        self.repos[repo] = files

    def ranges(self, filename: str) -> list[str | None]:
        return [r for m, p, r in self.requests if m == "GET" and p.split("?")[0].endswith("/" + filename)]


def handler_for(hub: Hub, cdn_base: list[str]):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_HEAD(self):
            self.answer(body=False)

        def do_GET(self):
            self.answer(body=True)

        def answer(self, body: bool):
            hub.requests.append((self.command, self.path, self.headers.get("Range")))
            path = self.path.split("?")[0]
            if path.startswith("/cdn/"):
                return self.cdn(path, body)
            repo, sep, rest = path.lstrip("/").partition("/resolve/")
            _revision, _, filename = rest.partition("/")
            if not sep or repo not in hub.repos:
                return self.status(404, {"X-Error-Code": "RepoNotFound"})
            data = hub.repos[repo].get(filename)
            if data is None:
                return self.status(404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": COMMIT})
            if filename.endswith((".bin", ".gguf")):  # LFS: redirect to the CDN, metadata on the redirect
                sha = hashlib.sha256(data).hexdigest()
                return self.status(302, {"Location": f"{cdn_base[0]}/cdn/{repo}/{filename}?sig=x",
                                         "X-Repo-Commit": COMMIT, "X-Linked-Etag": f'"{sha}"',
                                         "X-Linked-Size": str(len(data)), "ETag": f'"{git_sha1(b"pointer")}"'})
            self.send_file(data, filename, {"ETag": f'"{git_sha1(data)}"', "X-Repo-Commit": COMMIT}, body)

        def cdn(self, path: str, body: bool):
            repo, _, filename = path[len("/cdn/"):].rpartition("/")
            data = hub.repos[repo][filename]
            if hub.unavailable:
                hub.unavailable -= 1
                return self.status(503, {})
            if filename in hub.corrupt:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            self.send_file(data, filename, {"ETag": f'"{hashlib.sha256(data).hexdigest()}"'}, body)

        def status(self, code: int, headers: dict):
            self.send_response(code)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def send_file(self, data: bytes, filename: str, headers: dict, body: bool):
            start = 0
            ranged = self.headers.get("Range")
            if ranged:
                start = int(ranged.split("=")[1].split("-")[0])
            self.send_response(206 if ranged else 200)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(len(data) - start))
            if ranged:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            if not body:
                return
            payload = data[start:]
            cut = hub.drop_after.pop(filename, None)
            stall = hub.stall_after.pop(filename, None)
            limit = cut if cut is not None else stall
            self.wfile.write(payload if limit is None else payload[:limit])
            self.wfile.flush()
            hub.sent[filename] = hub.sent.get(filename, 0) + (len(payload) if limit is None else limit)
            if stall is not None:
                hub.release.wait(30)
            if limit is not None:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

    return Handler


@pytest.fixture
def hub():
    state = Hub()
    cdn_base: list[str] = []
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), handler_for(state, cdn_base)) for _ in range(2)]
    for s in servers:
        s.daemon_threads = True
        threading.Thread(target=s.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{servers[0].server_address[1]}"
    cdn_base.append(f"http://127.0.0.1:{servers[1].server_address[1]}")  # another origin, like the real CDN
    state.add("Systran/faster-whisper-base.en", {
        "config.json": b'{"alignment_heads": [], "lang_ids": []}\n',
        "model.bin": os.urandom(3 * MB + 12345),
        "tokenizer.json": b'{"version": "1.0"}\n',
        "vocabulary.txt": b"a\nb\nc\n",
    })
    gguf_head = b"GGUF" + struct.pack("<IQQQ", 3, 4, 3, 20) + b"general.architecture"  # a believable header
    state.add("Qwen/Qwen2.5-1.5B-Instruct-GGUF", {"qwen2.5-1.5b-instruct-q4_k_m.gguf": gguf_head + os.urandom(MB)})
    yield state
    state.release.set()
    for s in servers:
        s.shutdown()
        s.server_close()


@pytest.fixture
def env(tmp_path, hub):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PENNY_", "HF_"))}
    env.update(PENNY_HOME=str(tmp_path / "home"), HF_HOME=str(tmp_path / "hf"), HF_ENDPOINT=hub.url,
               PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    return env


def penny(*args, env, cwd, timeout=120):
    return subprocess.run([sys.executable, "-m", "penny", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=timeout)


def installed(env) -> Path:
    return Path(env["PENNY_HOME"]) / "models" / "whisper-base.en"


def test_pull_verifies_and_installs_private_files(hub, env, tmp_path):
    out = penny("models", "pull", "whisper-base.en", env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "checksums verified" in out.stderr
    folder = installed(env)
    for name, data in hub.repos["Systran/faster-whisper-base.en"].items():
        assert (folder / name).read_bytes() == data
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(folder.parent.stat().st_mode) == 0o700
    record = json.loads((folder / "penny-model.json").read_text())
    model = hub.repos["Systran/faster-whisper-base.en"]["model.bin"]
    assert record["commit"] == COMMIT and record["files"]["model.bin"]["sha256"] == hashlib.sha256(model).hexdigest()
    assert not any(folder.glob("*.incomplete"))
    again = penny("models", "pull", "whisper-base.en", env=env, cwd=tmp_path)
    assert again.returncode == 0 and "already pulled" in again.stderr


def test_dropped_connection_resumes_with_range(hub, env, tmp_path):
    hub.drop_after["model.bin"] = MB + MB // 2  # the client keeps whole 1 MiB pieces: 1 MiB survives
    out = penny("models", "pull", "whisper-base.en", env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert hub.ranges("model.bin") == [None, f"bytes={MB}-"]
    data = hub.repos["Systran/faster-whisper-base.en"]["model.bin"]
    assert (installed(env) / "model.bin").read_bytes() == data


def test_failed_pull_keeps_its_bytes_and_the_next_pull_resumes(hub, env, tmp_path):
    hub.drop_after["model.bin"] = MB + MB // 2

    def then_unavailable():  # the retry after the drop meets a server error: this pull gives up
        while "model.bin" in hub.drop_after:
            time.sleep(0.01)
        hub.unavailable = 1

    threading.Thread(target=then_unavailable, daemon=True).start()
    out = penny("models", "pull", "whisper-base.en", env=env, cwd=tmp_path)
    assert out.returncode == 2 and "Run the same command again to resume (1.0 MB kept)" in out.stderr, out.stderr
    assert not installed(env).exists()
    out = penny("models", "pull", "whisper-base.en", env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert hub.ranges("model.bin") == [None, f"bytes={MB}-", f"bytes={MB}-"]
    data = hub.repos["Systran/faster-whisper-base.en"]["model.bin"]
    assert (installed(env) / "model.bin").read_bytes() == data


def test_interrupted_pull_resumes_on_the_next_pull(hub, env, tmp_path):
    hub.stall_after["model.bin"] = MB + MB // 2
    proc = subprocess.Popen([sys.executable, "-m", "penny", "models", "pull", "whisper-base.en"], env=env,
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    partial = Path(env["PENNY_HOME"]) / "models" / ".partial" / "whisper-base.en"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and sum(p.stat().st_size for p in partial.glob("model.bin.*.incomplete")) < MB:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)  # the user presses Ctrl-C mid-download
    _, err = proc.communicate(timeout=30)
    hub.release.set()
    assert proc.returncode == 130, err
    assert "again to resume" in err
    assert not installed(env).exists()  # no partial model is ever installed
    kept = sum(p.stat().st_size for p in partial.glob("model.bin.*.incomplete"))
    assert kept >= MB

    out = penny("models", "pull", "whisper-base.en", env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert f"resuming at {kept / 1e6:,.1f} MB of" in out.stderr
    assert hub.ranges("model.bin")[-1] == f"bytes={kept}-"
    data = hub.repos["Systran/faster-whisper-base.en"]["model.bin"]
    assert (installed(env) / "model.bin").read_bytes() == data
    assert not partial.exists()


def test_checksum_mismatch_is_refused_and_nothing_installed(hub, env, tmp_path):
    hub.corrupt.add("model.bin")
    out = penny("models", "pull", "whisper-base.en", env=env, cwd=tmp_path)
    assert out.returncode == 2
    assert "does not match the hub's checksum" in out.stderr and "Traceback" not in out.stderr
    assert not installed(env).exists()
    partial = Path(env["PENNY_HOME"]) / "models" / ".partial" / "whisper-base.en"
    assert not list(partial.glob("model.bin*"))  # the bad bytes were deleted
    use = penny("models", "use", "whisper-base.en", env=env, cwd=tmp_path)
    assert use.returncode == 2 and "penny models pull whisper-base.en" in use.stderr


def test_offline_gives_a_clear_error(env, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # nothing listens once the socket closes
    env["HF_ENDPOINT"] = f"http://127.0.0.1:{closed}"
    out = penny("models", "pull", "qwen2.5-1.5b-instruct", env=env, cwd=tmp_path)
    assert out.returncode != 0
    assert "Could not reach the Hugging Face Hub" in out.stderr
    assert "HF_ENDPOINT" in out.stderr and "nothing was changed" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (Path(env["PENNY_HOME"]) / "models" / "qwen2.5-1.5b-instruct").exists()


def test_unknown_name_lists_the_catalogue(env, tmp_path):
    out = penny("models", "pull", "gpt-5", env=env, cwd=tmp_path)
    assert out.returncode == 2 and "whisper-small.en" in out.stderr


def test_disk_space_is_checked_before_downloading(hub, tmp_path, monkeypatch):
    from penny.catalog import find
    from penny.model_pull import PullError, pull

    monkeypatch.setenv("PENNY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10 * MB, 10 * MB - 1000, 1000))
    with pytest.raises(PullError, match="Not enough disk space") as err:
        pull(find("qwen2.5-1.5b-instruct"), say=lambda line: None)
    assert "nothing was changed" in str(err.value)
    assert not [r for r in hub.requests if r[0] == "GET"]  # refused before any download


def test_use_writes_the_config_and_it_still_checks(hub, env, tmp_path):
    assert penny("models", "pull", "qwen2.5-1.5b-instruct", env=env, cwd=tmp_path).returncode == 0
    out = penny("models", "use", "qwen2.5-1.5b-instruct", env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    config = Path(env["PENNY_HOME"]) / "penny_config.json"
    gguf = Path(env["PENNY_HOME"]) / "models" / "qwen2.5-1.5b-instruct" / "qwen2.5-1.5b-instruct-q4_k_m.gguf"
    assert json.loads(config.read_text())["llm"]["embedded"]["model_path"] == str(gguf)
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert penny("config", "check", env=env, cwd=tmp_path).returncode == 0
    listed = penny("models", env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if "qwen2.5-1.5b-instruct" in line)
    assert row.lstrip().startswith("*") and "pulled" in row


def test_use_keeps_other_keys_and_the_layout(tmp_path, monkeypatch):
    from penny.catalog import find
    from penny.model_use import use

    repo_config = Path(__file__).resolve().parents[1] / "penny_config.json"
    config = tmp_path / "penny_config.json"
    config.write_text(repo_config.read_text())
    monkeypatch.setenv("PENNY_HOME", str(tmp_path / "home"))
    target, notes = use(find("whisper-tiny.en"), str(config))
    assert target == config and config.read_text() == repo_config.read_text()  # tiny.en already: no change
    target, notes = use(find("smollm2-135m"), str(config))
    assert "llm.provider is openai_compatible" in notes[0]
    before, after = json.loads(repo_config.read_text()), json.loads(config.read_text())
    after["llm"].pop("embedded")
    assert after == before


async def _no_start(self) -> None:
    pass


def test_api_accepts_only_listed_models(hub, tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from fixtures_server import FakeEngines
    from penny.adapters.llm.embedded import EmbeddedLLM
    from penny.adapters.llm.factory import build_llm
    from penny.catalog import find
    from penny.config import PennyConfig
    from penny.model_pull import pull
    from penny.server.app import create_app

    monkeypatch.setenv("PENNY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    cfg = PennyConfig()
    engines = FakeEngines(cfg)
    engines.llm = build_llm(cfg)  # the real chain: the embedded backend once loaded any GGUF path
    monkeypatch.setattr(EmbeddedLLM, "start", _no_start)  # the pulled file is not a real model: don't load it
    with TestClient(create_app(cfg, engines), base_url="http://127.0.0.1:8765") as client:
        before = client.get("/api/models").json()
        for bad in ({"model": "/etc/passwd"}, {"model": "/etc/passwd", "backend": "embedded"},
                    {"model": "../../etc/passwd", "backend": "embedded"}):
            r = client.post("/api/models/active", json=bad)
            assert r.status_code == 404 and r.json()["error"]["code"] == "model-not-found", r.text
        assert client.get("/api/models").json()["active"] == before["active"]
        r = client.post("/api/models/active", json={"model": "qwen2.5-1.5b-instruct"})
        assert r.status_code == 404 and "penny models pull qwen2.5-1.5b-instruct" in r.json()["error"]["message"]

        pull(find("qwen2.5-1.5b-instruct"), say=lambda line: None)
        listed = {m["name"]: m for m in client.get("/api/models").json()["catalogue"]}
        assert listed["qwen2.5-1.5b-instruct"]["pulled"] and not listed["qwen2.5-3b-instruct"]["pulled"]
        r = client.post("/api/models/active", json={"model": "qwen2.5-1.5b-instruct"})
        assert r.status_code == 200, r.text
        assert r.json()["active"] == {"backend": "embedded", "model": "qwen2.5-1.5b-instruct-q4_k_m"}
        r = client.post("/api/models/active", json={"model": "whisper-base.en"})
        assert r.status_code == 404 and "penny models use" in r.json()["error"]["message"]


def test_use_refuses_a_pulled_file_that_is_not_gguf(tmp_path, monkeypatch):
    from penny.catalog import MANIFEST, find, folder, installed_path
    from penny.errors import ConfigError
    from penny.model_use import use

    monkeypatch.setenv("PENNY_HOME", str(tmp_path / "home"))
    model = find("qwen2.5-1.5b-instruct")
    folder(model).mkdir(parents=True)
    (folder(model) / MANIFEST).write_text("{}")
    installed_path(model).write_bytes(b"<html>not a model</html>" * 100)  # e.g. a proxy's error page
    config = tmp_path / "penny_config.json"
    config.write_text("{}")
    with pytest.raises(ConfigError, match="not a GGUF model.*penny models pull qwen2.5-1.5b-instruct"):
        use(model, str(config))
    assert config.read_text() == "{}"  # nothing written
