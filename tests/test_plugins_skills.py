"""Registry, tools and function calling: schema, bad calls, a real tool_calls round trip over HTTP,
entry-point plugins, notes, clock and weather (offline in one quick sentence)."""
from __future__ import annotations

import asyncio
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fixtures_skills import ToolCallServer, free_port, make_registry
from penny.core.events import TextDelta, ToolCall
from penny.plugins import loading as loading_mod
from penny.plugins.base import Intent, Plugin, SkillResult, Tool
from penny.plugins.tools import run_tool_loop
from penny.plugins.weather import UNREACHABLE
from fixtures_llm import LLMStub


def test_tools_schema_lists_enabled_plugins(tmp_path):
    reg, _ = make_registry(tmp_path)
    names = {t["function"]["name"] for t in reg.tools()}
    assert {"get_current_time", "set_timer", "set_reminder", "cancel_timer", "remember_note", "get_weather",
            "get_calendar_events", "add_calendar_event"} <= names
    for t in reg.tools():
        assert t["type"] == "function" and t["function"]["parameters"]["type"] == "object"
        json.dumps(t)
    reg2, _ = make_registry(tmp_path, weather={"enabled": False}, calendar={"enabled": False})
    names2 = {t["function"]["name"] for t in reg2.tools()}
    assert "get_weather" not in names2 and "add_calendar_event" not in names2
    assert reg2.route("whats the weather like") is None


async def test_bad_tool_calls_get_helpful_text(tmp_path):
    reg, _ = make_registry(tmp_path)
    r = await reg.call_tool("launch_rockets", "{}")
    assert r.text.startswith("There is no tool called launch_rockets. The tools are:") and "set_timer" in r.text
    r = await reg.call_tool("set_timer", "{not json")
    assert "not valid JSON" in r.text and r.data["error"] == "bad-arguments"
    r = await reg.call_tool("set_timer", "[1, 2]")
    assert "must be a JSON object" in r.text
    r = await reg.call_tool("set_timer", '{"duration": "a while"}')
    assert r.text == "Sorry, how long should the timer be?"
    r = await reg.call_tool("get_current_time", "")
    assert r.text == "It's 8 am on Wednesday, November 25th."


async def test_tool_calling_round_trip_over_http(tmp_path):
    from penny.adapters.llm.openai_compat import OpenAICompatLLM

    server = ToolCallServer("set_timer", {"duration": "10 minutes", "name": "tea"}).start()
    llm = OpenAICompatLLM("tool-test", server.base_url, "tool-model", timeout_s=10)
    reg, clock = make_registry(tmp_path)
    messages = [{"role": "user", "content": "Could you start a tea timer, ten minutes?"}]
    try:
        out = [d async for d in run_tool_loop(llm, messages, reg)]
    finally:
        await llm.aclose()
        server.stop()
    assert all(isinstance(d, TextDelta) for d in out)
    # An action's reply is the tool's own confirmation: no second round for the model to retell it.
    assert "".join(d.text for d in out) == "Okay, tea timer set for ten minutes."
    [first] = server.requests
    assert "set_timer" in {t["function"]["name"] for t in first["tools"]}
    assert [m["role"] for m in messages] == ["user", "assistant", "tool"]
    call = messages[1]["tool_calls"][0]
    assert call["function"]["name"] == "set_timer"
    assert json.loads(call["function"]["arguments"]) == {"duration": "10 minutes", "name": "tea"}
    assert messages[2]["tool_call_id"] == call["id"] == "call_1"
    assert (await reg.handle_text("s", "how much time is left on the tea timer")).text == \
        "Ten minutes left on your tea timer."


class _GreedyLLM(LLMStub):
    """Asks for a tool every time it may; answers in text once tools are withheld."""

    def __init__(self):
        self.offers = []

    async def stream(self, messages, tools=None):
        self.offers.append(tools is not None)
        if tools:
            yield ToolCall(id=f"c{len(self.offers)}", name="get_current_time", arguments="{}")
        else:
            yield TextDelta("Done.")


async def test_tool_loop_stops_after_max_rounds(tmp_path):
    reg, _ = make_registry(tmp_path)
    llm, messages = _GreedyLLM(), [{"role": "user", "content": "time?"}]
    out = [d.text async for d in run_tool_loop(llm, messages, reg, max_rounds=2)]
    assert out == ["Done."] and llm.offers == [True, True, False]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant", "tool"]


async def test_confirmation_asked_through_a_tool_is_answered_by_voice(tmp_path):
    reg, _ = make_registry(tmp_path, calendar={"sources": [str(tmp_path / "c.ics")]})
    r = await reg.call_tool("add_calendar_event", '{"title": "Gym", "start": "tomorrow at 7 pm"}',
                            session_id="kitchen")
    assert r.text == "Shall I add Gym on Thursday, November 26th at 7 pm to your calendar?"
    assert await reg.handle_text("kitchen", "what time is it") is not None  # not yes/no: question dropped
    assert reg.pending("kitchen") is None
    await reg.call_tool("add_calendar_event", '{"title": "Gym", "start": "tomorrow at 7 pm"}', session_id="kitchen")
    assert (await reg.handle_text("kitchen", "yes")).text.startswith("Done. Gym is on your calendar")


class EchoPlugin(Plugin):
    name = "echo"

    def intents(self):
        return [Intent("echo", "EchoWords", self._echo)]

    def sentences(self, language):
        return {"language": language, "intents": {"EchoWords": {"data": [{"sentences": ["echo {words}"]}]}},
                "lists": {"words": {"wildcard": True}}}

    def tools(self):
        return [Tool("echo", "Echo words.", {"type": "object", "properties": {"words": {"type": "string"}}},
                     self._echo), Tool("explode", "Fails.", {"type": "object", "properties": {}}, self._boom)]

    async def _echo(self, args):
        return SkillResult(f"{self.ctx.settings.get('prefix', '')}{args['words']}")

    async def _boom(self, args):
        raise RuntimeError("kaboom")


class _EP:
    def __init__(self, name, target):
        self.name, self.value, self._target = name, f"tests:{name}", target

    def load(self):
        if isinstance(self._target, Exception):
            raise self._target
        return self._target


async def test_entry_point_plugins(tmp_path, monkeypatch, caplog):
    eps = [_EP("echo", EchoPlugin), _EP("broken", ImportError("no module named broken"))]
    monkeypatch.setattr(loading_mod, "entry_points", lambda group: eps if group == "penny.plugins" else [])
    reg, _ = make_registry(tmp_path)
    reg_cfg = reg  # settings come from plugins.extra
    assert "echo" in reg_cfg.plugins and "broken" not in reg_cfg.plugins
    assert "broken" in caplog.text
    r = await reg.handle_text("s", "Echo hello there")
    assert (r.text, r.plugin) == ("hello there", "echo")
    r = await reg.call_tool("explode", "{}")
    assert r.text == "Sorry, that didn't work. Something went wrong in my echo skill." and r.plugin == "echo"

    from fixtures_skills import make_config

    cfg = make_config()
    cfg.plugins.extra = {"echo": {"enabled": False}}
    assert "echo" not in loading_mod.build_plugins(cfg, data_dir=tmp_path).plugins
    cfg.plugins.extra = {"echo": {"prefix": "> "}}
    reg3 = loading_mod.build_plugins(cfg, data_dir=tmp_path)
    assert (await reg3.handle_text("s", "echo hi")).text == "> hi"


async def test_notes_persist_and_read_back(tmp_path):
    reg, _ = make_registry(tmp_path)
    assert (await reg.handle_text("s", "what did i ask you to remember")).text == \
        "You haven't asked me to remember anything yet."
    r = await reg.handle_text("s", "remember that my bike lock code is in the blue notebook")
    assert r.text == "Okay, I'll remember that your bike lock code is in the blue notebook."
    await reg.handle_text("s", "remember the wifi password is on the fridge")
    reg2, _ = make_registry(tmp_path)  # a restart
    r = await reg2.handle_text("s", "what did i ask you to remember")
    assert r.text == ("You asked me to remember: your bike lock code is in the blue notebook and "
                      "the wifi password is on the fridge.")
    assert (await reg2.handle_text("s", "where is the wifi password")).text == \
        "You told me the wifi password is on the fridge."
    assert (await reg2.handle_text("s", "forget all my notes")).text == "Done, I deleted two notes."


async def test_corrupt_notes_file_is_kept_aside(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "notes.json").write_text("{oops")
    reg, _ = make_registry(tmp_path)
    assert "haven't asked me" in (await reg.handle_text("s", "what did i ask you to remember")).text
    assert (tmp_path / "data" / "notes.json.unreadable").read_text() == "{oops"


async def test_weather_refused_connection_is_one_quick_sentence(tmp_path, caplog):
    url = f"http://127.0.0.1:{free_port()}/v1/forecast"  # nothing listens there
    reg, _ = make_registry(tmp_path, weather={"latitude": 52.5, "longitude": 13.4, "base_url": url})
    r = await asyncio.wait_for(reg.handle_text("s", "what's the weather like"), 10)
    assert r.text == UNREACHABLE == "I can't reach the weather service right now."
    assert "unreachable" in caplog.text


async def test_weather_silent_server_times_out_into_one_sentence(tmp_path):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)  # accepts connections, never answers
    url = f"http://127.0.0.1:{silent.getsockname()[1]}/v1/forecast"
    try:
        reg, _ = make_registry(tmp_path, weather={"latitude": 52.5, "longitude": 13.4, "base_url": url,
                                                  "timeout_s": 0.5})
        r = await asyncio.wait_for(reg.call_tool("get_weather", '{"day": "now"}'), 10)
        assert r.text == UNREACHABLE
    finally:
        silent.close()


async def test_weather_from_a_local_open_meteo(tmp_path):
    body = json.dumps({
        "current": {"temperature_2m": 11.6, "weather_code": 2, "wind_speed_10m": 9},
        "daily": {"time": ["2026-11-25", "2026-11-26", "2026-11-27"], "weather_code": [61, 3, 0],
                  "temperature_2m_max": [13.2, 9.8, 7], "temperature_2m_min": [5.1, 2.4, -1],
                  "precipitation_probability_max": [80, 10, 0]}}).encode()

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            assert "latitude=52.5" in self.path
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        reg, _ = make_registry(tmp_path, weather={
            "latitude": 52.5, "longitude": 13.4, "location_name": "Berlin",
            "base_url": f"http://127.0.0.1:{httpd.server_address[1]}/v1/forecast"})
        assert (await reg.handle_text("s", "whats the weather like")).text == \
            "It's 12 degrees and partly cloudy in Berlin."
        assert (await reg.handle_text("s", "will it rain tomorrow")).text == \
            "Tomorrow in Berlin: overcast, high of 10, low of 2, 10 percent chance of rain."
    finally:
        httpd.shutdown()
        httpd.server_close()


async def test_weather_without_location(tmp_path):
    reg, _ = make_registry(tmp_path)
    r = await reg.handle_text("s", "whats the weather")
    assert r.text.startswith("I don't know where you are yet.")


@pytest.mark.parametrize("text,answer", [("what time is it", "It's 8 am."),
                                         ("what's the date", "Today is Wednesday, November 25th."),
                                         ("what day is it tomorrow", "Tomorrow is Thursday, November 26th."),
                                         ("what's the date next friday", "That's Friday, November 27th."),
                                         ("what day of the week is december 25th", "That's Friday, December 25th.")])
async def test_clock(tmp_path, text, answer):
    reg, _ = make_registry(tmp_path)
    assert (await reg.handle_text("s", text)).text == answer


def test_the_date_of_a_span_is_no_clock_question(tmp_path):
    """"What's the date next week" names seven days: not the clock's to answer with one."""
    reg, _ = make_registry(tmp_path)
    assert reg.route("what's the date next week") is None
    assert reg.route("which day is the dentist") is None  # not a day at all


async def test_tool_question_without_session_is_answered_in_any_session(tmp_path):
    # The assistant may call run_tool_loop without a session id; the "yes" still lands.
    reg, _ = make_registry(tmp_path, calendar={"sources": [str(tmp_path / "c.ics")]})
    await reg.call_tool("add_calendar_event", '{"title": "Dinner", "start": "2026-11-26T19:30:00"}')
    r = await reg.handle_text("web-1", "yes")
    assert r.text == "Done. Dinner is on your calendar for Thursday, November 26th at 7:30 pm."
    r = await reg.handle_text("web-1", "what's on my calendar tomorrow")
    assert r.text == "You have one thing tomorrow: Dinner at 7:30 pm."
