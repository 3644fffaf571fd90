"""User sentences without code: custom_sentences/<lang>/*.yaml adds phrasings and new intents
(canned answer, webhook, LLM prompt); `penny intents check/test/list` as a user runs them."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fixtures_skills import NOW, make_config
from penny.intents.custom import ASK_LLM
from penny.intents.library import SentenceError, read_file
from penny.plugins.base import ManualClock
from penny.plugins.loading import build_plugins

EXTRA = """\
language: en
intents:
  HassGetCurrentTime:
    data:
      - sentences:
          - "what does the clock say"
  FavouriteColour:
    data:
      - sentences:
          - "<what_is> your favo[u]rite colo[u]r"
  GarageOpen:
    data:
      - sentences:
          - "open the garage [door]"
  TellJoke:
    data:
      - sentences:
          - "tell me a joke about {topic}"
lists:
  topic:
    wildcard: true
responses:
  intents:
    FavouriteColour:
      default: "Teal, like a calm sea."
    GarageOpen:
      default: "Opening the garage."
actions:
  GarageOpen:
    webhook:
      url: "{url}"
      method: POST
  TellJoke:
    prompt: "Tell me a short, clean joke about {{ slots.topic }}."
"""


@pytest.fixture
def hook():
    """A stand-in webhook receiver on loopback: records each call, answers with `status`."""
    calls: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        status = 200

        def do_POST(self):  # noqa: N802
            calls.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(Handler.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server, Handler, calls
    server.shutdown()


def registry_with(tmp_path, text: str):
    folder = tmp_path / "custom_sentences" / "en"
    folder.mkdir(parents=True)
    (folder / "mine.yaml").write_text(text)
    cfg = make_config()
    cfg.assistant.custom_sentences = str(tmp_path / "custom_sentences")
    return build_plugins(cfg, clock=ManualClock(NOW), data_dir=tmp_path / "data")


async def test_a_user_file_adds_a_phrasing_and_new_intents(tmp_path, hook):
    server, handler, calls = hook
    reg = registry_with(tmp_path, EXTRA.replace("{url}", f"http://127.0.0.1:{server.server_port}/garage"))
    assert reg.router.library.problems == []
    assert (reg.route("What does the clock say?").plugin, reg.route("what does the clock say").intent) == \
        ("clock", "time")
    assert (await reg.handle_text("s", "What's your favourite color?")).text == "Teal, like a calm sea."
    result = await reg.handle_text("s", "open the garage door")
    assert result.text == "Opening the garage." and calls == [{"intent": "GarageOpen", "slots": {}}]
    joke = await reg.handle_text("s", "tell me a joke about penguins")
    assert joke.data[ASK_LLM] == "Tell me a short, clean joke about penguins."
    assert reg.route("what is the capital of france") is None


async def test_a_failed_webhook_is_never_confirmed(tmp_path, hook):
    server, handler, calls = hook
    handler.status = 500
    reg = registry_with(tmp_path, EXTRA.replace("{url}", f"http://127.0.0.1:{server.server_port}/garage"))
    result = await reg.handle_text("s", "open the garage")
    assert "Opening" not in result.text and "500" in result.text and result.data["error"] == "webhook-failed"
    server.shutdown()
    result = await reg.handle_text("s", "open the garage")
    assert "couldn't reach" in result.text


def test_a_broken_file_is_skipped_with_its_line_and_the_rest_still_works(tmp_path):
    reg = registry_with(tmp_path, "language: en\nintents:\n  Broken:\n    data:\n      - sentences:\n"
                                  "          - \"open the [garage\"\n")
    assert reg.route("what time is it").plugin == "clock"
    assert reg.router.library.problems and "line 6" in reg.router.library.problems[0]


@pytest.mark.parametrize("text,words", [
    ("intents: [\n", "not valid YAML"),
    ("intents:\n  X:\n    data:\n      - sentences: hello\n", "list of strings"),
    ("intents:\n  X:\n    data:\n      - sentences: ['open (a|b']\n", "does not parse"),
    ("intents:\n  X: {data: [{sentences: ['hi']}]}\nactions:\n  Y: {prompt: 'x'}\n", "no file defines"),
    ("intents:\n  X: {data: [{sentences: ['hi']}]}\nactions:\n  X: {webhook: {url: 'file:///etc/passwd'}}\n",
     "http://"),
])
def test_bad_files_get_clear_errors(tmp_path, text, words):
    from penny.intents.custom import check_actions

    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SentenceError, match=words):
        data = read_file(path)
        check_actions(data.get("actions"), data.get("responses"), set(data.get("intents") or {}), str(path))


def penny(home, *args):
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("PENNY_")}
    env["PENNY_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "penny", "intents", *args], capture_output=True, text=True,
                          env=env, timeout=120, cwd=home)


def test_cli_check_test_and_list(tmp_path):
    home = tmp_path / "home"
    folder = home / "custom_sentences" / "en"
    folder.mkdir(parents=True)
    (folder / "mine.yaml").write_text(EXTRA.replace("{url}", "http://127.0.0.1:9/hook"))
    out = penny(home, "check")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ok" in out.stdout and "FavouriteColour" in out.stdout

    out = penny(home, "test", "What time is it?")
    assert out.returncode == 0 and "clock.time (HassGetCurrentTime)" in out.stdout
    out = penny(home, "test", "what is the capital of france")
    assert out.returncode == 1 and "No intent matches" in out.stdout

    out = penny(home, "list")
    assert out.returncode == 0 and "HassGetCurrentTime" in out.stdout and "home-assistant-intents" in out.stdout

    (folder / "typo.yaml").write_text("language: en\nintents:\n  Y:\n    data:\n      - sentences:\n"
                                      "          - \"play {sogn}\"\n")
    out = penny(home, "check")
    assert out.returncode == 1
    assert "typo.yaml, line 6" in out.stdout and "{sogn}" in out.stdout and "lists:" in out.stdout


async def test_a_prompt_intent_asks_the_llm_with_the_users_slots(tmp_path):
    from fixtures_llm import RecordingLLM
    from penny.core.assistant import Assistant
    from penny.memory.store import MemoryStore

    reg = registry_with(tmp_path, EXTRA.replace("{url}", "http://127.0.0.1:9/x"))
    llm = RecordingLLM()
    a = Assistant(make_config(), llm, reg, MemoryStore(tmp_path / "m.db"))
    from penny.core.events import ReplyDone

    said = [ev.text async for ev in a.reply("s", "tell me a joke about penguins") if isinstance(ev, ReplyDone)]
    assert said == ["Paris is the capital."]  # RecordingLLM's answer: the LLM was asked
    assert llm.calls[-1][-1] == {"role": "user", "content": "Tell me a short, clean joke about penguins."}
