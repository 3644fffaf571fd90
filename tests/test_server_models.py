"""POST /api/models/active on the real server app with the real LLM chain (FallbackLLM + EmbeddedLLM):
only listed names or GGUF files inside Penny's model folders, checked before the switch; a failed switch
keeps the old model; switching away and back by the listed names; token and CSRF rules."""
from __future__ import annotations

import os
import shutil
import struct

import pytest

from fixtures_server import BASE, FakeEngines, home_config, make_client
from penny.adapters.llm.factory import build_llm
from penny.catalog import models_dir
from penny.model_use import gguf_problem
from penny.models import smollm2_gguf
from penny.server.auth import Guard

TOKEN = "models-token-0123456789abcdef"
BUNDLED = smollm2_gguf().stem  # what the embedded backend lists at first


def gguf_header(version: int = 3, tensors: int = 4, kvs: int = 3, key: bytes = b"general.architecture") -> bytes:
    return b"GGUF" + struct.pack("<IQQQ", version, tensors, kvs, len(key)) + key


def write(path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    return home_config(tmp_path, monkeypatch, {"llm": {"provider": "embedded"}})


@pytest.fixture
def engines(cfg):
    e = FakeEngines(cfg)
    e.llm = build_llm(cfg)  # the real chain; the embedded server starts only when a test asks
    return e


@pytest.fixture
def client(cfg, engines):
    with make_client(cfg, engines) as c:
        yield c
        c.portal.call(engines.llm.aclose)


def switch(client, model, backend=None, **kw):
    return client.post("/api/models/active", json={"model": model, "backend": backend}, **kw)


def active(client) -> dict:
    return client.get("/api/models").json()["active"]


# ---- what may be loaded ----
@pytest.mark.parametrize("name", ["/etc/passwd", "../../../../etc/passwd", "~/.bashrc", "/etc/hostname"])
def test_paths_outside_the_model_folders_are_refused(client, name):
    before = active(client)
    for backend in ("embedded", None):
        r = switch(client, name, backend)
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "model-not-found" and "not a model Penny lists" in r.text
    assert active(client) == before
    # the same answer whether the file exists or not: no probing the disk through this endpoint
    missing, present = (switch(client, f"/etc/{n}").json()["error"]["message"].replace(n, "X")
                        for n in ("no-such-file", "hostname"))
    assert missing == present


def test_a_symlink_out_of_the_models_folder_is_refused(client, tmp_path):
    outside = write(tmp_path / "elsewhere" / "good.gguf", gguf_header() + b"\0" * 4096)
    link = models_dir() / "linked" / "linked.gguf"
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)
    r = switch(client, "linked")  # by name: not even listed
    assert r.status_code == 404
    r = switch(client, str(link))  # by path: resolves outside
    assert r.status_code == 404 and "not a model Penny lists" in r.json()["error"]["message"]
    assert "linked" not in client.get("/api/models").json()["models"]["embedded"]


@pytest.mark.parametrize("content, why", [
    (b"root:x:0:0:root:/root:/bin/bash\n" * 10, "magic"),
    (gguf_header(version=99) + b"\0" * 4096, "version"),
    (gguf_header(tensors=10**9) + b"\0" * 4096, "damaged"),
    (gguf_header(tensors=1000), "truncated"),
    (b"GGUF\x03\x00", "truncated"),
])
def test_files_that_are_not_gguf_models_are_refused_before_the_switch(client, engines, content, why):
    write(models_dir() / "bad" / "bad.gguf", content)
    before = active(client)
    r = switch(client, "bad", "embedded")
    assert r.status_code == 422, r.text
    body = r.json()["error"]
    assert body["code"] == "model-invalid" and why in body["message"] and "current model stays" in body["message"]
    assert active(client) == before
    assert engines.llm.backend("embedded").server is None  # nothing was stopped or started


def test_gguf_problem_accepts_the_bundled_model():
    assert gguf_problem(smollm2_gguf()) is None


def test_switching_to_the_loaded_model_does_not_restart_it(client, engines):
    for name in (BUNDLED, "smollm2-135m"):
        r = switch(client, name, "embedded")
        assert r.status_code == 200, r.text
        assert r.json()["active"] == {"backend": "embedded", "model": BUNDLED}
    assert engines.llm.backend("embedded").server is None


def test_a_speech_model_or_unpulled_model_is_refused(client):
    r = switch(client, "whisper-tiny.en")
    assert r.status_code == 404 and "speech model" in r.json()["error"]["message"]
    r = switch(client, "qwen2.5-3b-instruct")
    assert r.status_code == 404 and "penny models pull" in r.json()["error"]["message"]


# ---- who may switch ----
@pytest.mark.parametrize("headers, content, status", [
    ({"content-type": "text/plain"}, '{"model": "smollm2-135m"}', 415),  # a no-cors fetch / form
    ({"content-type": "application/x-www-form-urlencoded"}, "model=smollm2-135m", 415),  # an HTML form
    ({}, '{"model": "smollm2-135m"}', 415),  # no type at all (a Blob body)
    ({"content-type": "application/json", "origin": "https://evil.example"}, '{"model": "smollm2-135m"}', 403),
    ({"content-type": "application/json", "origin": "null"}, '{"model": "smollm2-135m"}', 403),
    ({"content-type": "application/json", "origin": BASE}, '{"model": "smollm2-135m"}', 200),
    ({"content-type": "application/json; charset=utf-8"}, '{"model": "smollm2-135m"}', 200),
])
def test_loopback_switch_is_csrf_safe(client, headers, content, status):
    r = client.post("/api/models/active", content=content, headers=headers)
    assert r.status_code == status, r.text


def test_switch_needs_the_token_when_one_is_configured(cfg, engines):
    guard = Guard(TOKEN, [], loopback_only=False)
    with make_client(cfg, engines, "http://192.168.1.20:8765", guard=guard) as c:
        assert switch(c, "smollm2-135m").status_code == 401
        assert switch(c, "smollm2-135m", headers={"authorization": "Bearer nope"}).status_code == 401
        assert switch(c, "smollm2-135m", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200


# ---- real switches (start llama.cpp) ----
@pytest.mark.slow
def test_failed_switch_keeps_the_old_model_and_switching_goes_both_ways(client, engines):
    embedded = engines.llm.backend("embedded")
    client.portal.call(embedded.start)
    assert embedded.server.running
    # a file with a believable header that llama.cpp cannot load: the old model is back, running
    write(models_dir() / "broken" / "broken.gguf", gguf_header() + os.urandom(8192))
    r = switch(client, "broken")
    assert r.status_code == 502, r.text
    err = r.json()["error"]
    assert err["code"] == "model-load-failed" and f"still using {BUNDLED}" in err["message"]
    assert active(client) == {"backend": "embedded", "model": BUNDLED}
    assert embedded.server is not None and embedded.server.running
    # a second real model in the models folder: listed by name, switch to it and back by the listed names
    other = models_dir() / "mine" / "SmolCopy.gguf"
    other.parent.mkdir(parents=True)
    try:
        os.link(smollm2_gguf(), other)
    except OSError:
        shutil.copy(smollm2_gguf(), other)
    listed = client.get("/api/models").json()["models"]["embedded"]
    assert {BUNDLED, "SmolCopy"} <= set(listed)
    r = switch(client, "SmolCopy")
    assert r.status_code == 200 and r.json()["active"] == {"backend": "embedded", "model": "SmolCopy"}
    assert embedded.server.running
    assert BUNDLED in client.get("/api/models").json()["models"]["embedded"]  # still listed: switch back
    r = switch(client, BUNDLED)
    assert r.status_code == 200 and r.json()["active"]["model"] == BUNDLED
    r = switch(client, "SmolCopy", "embedded")
    assert r.status_code == 200
    assert client.portal.call(embedded.list_models) == ["SmolCopy"]  # asked of the running llama server
    r = switch(client, "smollm2-135m")  # the catalogue name works too
    assert r.status_code == 200 and r.json()["active"]["model"] == BUNDLED
    assert client.portal.call(embedded.list_models) == [BUNDLED]
