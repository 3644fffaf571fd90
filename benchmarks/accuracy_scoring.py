"""The accuracy benchmark's world and its judge: Penny loaded on an isolated copy of the config (its own
history, skills data, calendar and a stand-in weather service on 127.0.0.1), a clock fixed at 08:17 on
the run's day, state reset before each clip, and one check per task against what Penny really did."""
from __future__ import annotations

import json
import re
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

from benchmarks import accuracy_corpus as corpus

TZ = ZoneInfo("America/New_York")
CLOCK_AT = (8, 17)
WEATHER = {"current": {"temperature_2m": 17.2, "weather_code": 2, "wind_speed_10m": 9.0},
           "daily": {"time": [], "weather_code": [61, 1, 3], "temperature_2m_max": [19.4, 23.1, 21.0],
                     "temperature_2m_min": [8.6, 11.2, 12.0], "precipitation_probability_max": [70, 10, 20]}}
TASK_INTENTS = {"time": ("clock.time",), "date": ("clock.date",), "calendar_read": ("calendar.read", "calendar.next", "calendar.find"),
                "calendar_add": ("calendar.add",), "timer_set": ("timers.set_timer",),
                "timer_query": ("timers.time_left", "timers.list"), "timer_cancel": ("timers.cancel", "timers.cancel_all"),
                "reminder": ("timers.reminder",), "note_add": ("notes.remember",),
                "note_recall": ("notes.search", "notes.recall"), "weather": ("weather.weather",)}
_WORDS = {8: "eight", 17: "seventeen", 19: "nineteen", 23: "twenty three", 9: "nine", 11: "eleven"}


class Bench:
    """Engines plus what the checks read: the clock, the timers, notes and calendar state."""

    def __init__(self, engines, clock, tmp: Path, weather: ThreadingHTTPServer):
        from benchmarks.e2e import SimulatedSpeaker

        self.engines, self.clock, self.tmp, self._weather = engines, clock, tmp, weather
        self.speaker = SimulatedSpeaker()
        self.ics = Path(engines.cfg.plugins.calendar.sources[0])
        self.plugins = engines.plugins.plugins
        self._spoken: dict[tuple, object] = {}

    @classmethod
    async def start(cls, cfg, tmp: Path) -> "Bench":
        from penny.config import PennyConfig
        from penny.app.engines import Engines
        from penny.plugins.base import ManualClock

        weather = weather_server()
        cfg = (cfg or PennyConfig()).model_copy(deep=True)
        cfg.memory.path, cfg.tts.cache.dir = str(tmp / "penny.db"), str(tmp / "tts-cache")
        cfg.assistant.timezone = str(TZ)
        cal = cfg.plugins.calendar
        cal.sources, cal.write_to, cal.confirm_writes = [str(tmp / "calendar.ics")], str(tmp / "calendar.ics"), True
        w = cfg.plugins.weather
        w.latitude, w.longitude, w.base_url = 40.7, -74.0, f"http://127.0.0.1:{weather.server_port}/v1/forecast"
        now = datetime.now(TZ).replace(hour=CLOCK_AT[0], minute=CLOCK_AT[1], second=0, microsecond=0)
        (tmp / "calendar.ics").write_text(seed_calendar(now), encoding="utf-8")
        engines = await Engines.load(cfg, data_dir=tmp / "data", clock=ManualClock(now))
        return cls(engines, engines.plugins.clock, tmp, weather)

    @property
    def now(self) -> datetime:
        return self.clock.now()

    async def reset(self, ask: corpus.Ask) -> None:
        """Every clip starts from the same world: seeded calendar and notes, no timers, no open question, and
        a phrase cache holding only what Penny pre-warms (a reply another clip or rule made would be spoken
        from the cache: the turns benchmark ran its three rules on each clip in turn, so the third spoke most
        replies without synthesizing them)."""
        forget = getattr(self.engines.tts, "forget", None)  # absent with tts.cache.enabled off
        if forget is not None:
            forget(self.engines.warm_phrases)
        timers = self.plugins["timers"]
        timers.state.items.clear()
        timers.state.save()
        self.ics.write_text(seed_calendar(self.now), encoding="utf-8")
        self.plugins["notes"].store.save({"notes": [{"id": f"seed{i}", "text": t, "created": self.now.isoformat()}
                                                    for i, t in enumerate(corpus.SEED_NOTES)]})
        self.engines.plugins._pending.clear()
        self.engines.assistant._clarify.clear()
        if "seconds_set" in ask.expect:
            await timers._set({"duration": f"{ask.expect['seconds_set']} seconds"})

    def spoken(self, text: str, clip: corpus.Clip):
        """`text` in the clip's voice and condition (a synthetic stand-in for a real recording's voice)."""
        key = (text, clip.voice, clip.condition)
        if key not in self._spoken:
            voice = next(v for v in corpus.VOICES if v.name == clip.voice)
            if voice.kind == "real":
                voice = corpus.VOICES[0]
            speech = corpus.prepare_speech(corpus.synthesize(voice, text))
            self._spoken[key] = corpus.render(speech, clip.condition, corpus._seed(text, clip.voice, clip.condition))
        audio, _, end = self._spoken[key]
        return audio, end

    def asks_to_confirm(self, session_id: str) -> bool:
        return self.engines.plugins.pending(session_id) is not None

    def timers(self, kind: str) -> list[dict]:
        return [i for i in self.plugins["timers"]._items if i["kind"] == kind]

    async def close(self) -> None:
        await self.engines.aclose()
        self._weather.shutdown()


def seed_calendar(now: datetime) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//penny//accuracy//EN"]
    for i, (offset, hhmm, title) in enumerate(corpus.SEED_EVENTS):
        day = (now + timedelta(days=offset)).strftime("%Y%m%d")
        start = hhmm.replace(":", "") + "00"
        end = f"{int(hhmm[:2]) + 1:02d}{hhmm[3:]}00"
        lines += ["BEGIN:VEVENT", f"UID:seed-{i}@penny", f"DTSTAMP:{day}T000000Z", f"DTSTART:{day}T{start}",
                  f"DTEND:{day}T{end}", f"SUMMARY:{title}", "END:VEVENT"]
    return "\r\n".join(lines + ["END:VCALENDAR"]) + "\r\n"


def weather_server(today=lambda: datetime.now(TZ).date()) -> ThreadingHTTPServer:
    """A stand-in Open-Meteo on 127.0.0.1 (17 degrees, partly cloudy), its days starting `today()`."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            today = today_fn()
            body = json.dumps({**WEATHER, "daily": {**WEATHER["daily"], "time": [
                (today + timedelta(days=i)).isoformat() for i in range(3)]}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    today_fn = today
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# ---------------------------------------------------------------- judging

def judge_yes(bench: Bench, ask: corpus.Ask, words: str) -> bool:
    """Would the user say "yes" to "Did you say: <words>?": the same request (skill and slots), or
    nearly the same words (an open question)."""
    from benchmarks.accuracy import corpus_wer

    route = bench.engines.plugins.route
    want, got = route(corpus.normalise(ask.text)), route(corpus.normalise(words))  # "10" and "ten" alike
    if want is not None and got is not None:
        return (want.plugin, want.intent, want.slots) == (got.plugin, got.intent, got.slots)
    if got is not None:  # Penny has no parse of the ask's own wording: the same kind of request, same details
        said = set(corpus.normalise(ask.text).split())
        return f"{got.plugin}.{got.intent}" in TASK_INTENTS.get(ask.task, ()) and \
            all(set(corpus.normalise(v).split()) <= said for v in got.slots.values() if isinstance(v, str))
    return corpus_wer(corpus.reference_text(ask), words) <= 0.25


def _has(text: str, *words: str) -> bool:
    t = corpus.normalise(text)
    return all(re.search(rf"\b{re.escape(corpus.normalise(w))}", t) for w in words)


def _number(text: str, n: int) -> bool:
    return bool(re.search(rf"\b{n}\b", text)) or _has(text, _WORDS.get(n, str(n)))


def check(bench: Bench, ask: corpus.Ask, replies: list[str]) -> tuple[bool, str]:
    """(done, why) for one ask, from Penny's replies and its state."""
    e, said, now = ask.expect, " ".join(replies), bench.now
    task = ask.task
    if task == "time":
        return f"{now.hour % 12 or 12}:{now.minute:02d}" in said, "states the time"
    if task == "date":
        return _has(said, now.strftime("%A")) and _number(said, now.day) or \
            _has(said, now.strftime("%B")) and bool(re.search(rf"\b{now.day}(st|nd|rd|th)?\b", said)), "states the date"
    if task == "calendar_read":
        if e.get("none"):
            titles = [w for _, _, t in corpus.SEED_EVENTS for w in t.lower().split() if len(w) > 3]
            return (re.search(r"nothing|no events|free|clear|don'?t have", said, re.I) is not None
                    and not any(_has(said, w) for w in titles)), "says the day is free"
        return all(_has(said, w) for w in e["titles"]), "names the seeded events"
    if task == "calendar_add":
        return _event_added(bench, e), "the event is in the .ics"
    if task == "timer_set":
        found = [t for t in bench.timers("timer") if abs(t["duration_s"] - e["seconds"]) < 1]
        return any(not e.get("name") or (t.get("name") or "") == e["name"] for t in found), "timer exists"
    if task == "timer_query":
        minutes = round(e["seconds_set"] / 60)
        return _number(said, minutes) or _has(said, corpus._number_words(minutes)), "states the time left"
    if task == "timer_cancel":
        return not bench.timers("timer"), "no timer left"
    if task == "reminder":
        return any(_reminder_ok(r, e, now) for r in bench.timers("reminder")), "reminder exists"
    if task == "note_add":
        notes = bench.plugins["notes"]._notes()[len(corpus.SEED_NOTES):]
        return any(all(_has(n["text"], w) for w in e["text_words"]) for n in notes), "note stored"
    if task == "note_recall":
        return all(_has(said, w) for w in e["answer_words"]), "reads back the note"
    if task == "weather":
        return any(_number(said, round(v)) for v in (17.2, 19.4, 23.1, 8.6, 11.2)), "states the served forecast"
    if task == "open":
        return any(_has(said, w) for w in e["any"]), "answer is right"
    if task == "ignore":
        return not replies, "no reply"
    raise ValueError(f"unknown task {task!r}")


def _reminder_ok(item: dict, e: dict, now: datetime) -> bool:
    if not all(_has(item.get("text", "") or item.get("name", "") or "", w) for w in e["text_words"]):
        return False
    due = datetime.fromisoformat(item["due"]).astimezone(now.tzinfo)
    if "seconds" in e:
        return abs((due - now).total_seconds() - e["seconds"]) < 2
    day = now.date() + timedelta(days=e.get("day_offset", 0))
    return (due.hour, due.minute) == (e["hour"], e["minute"]) and (due.date() == day or "day_offset" not in e)


def _event_added(bench: Bench, e: dict) -> bool:
    import icalendar

    day = bench.now.date() + timedelta(days=e["day_offset"])
    cal = icalendar.Calendar.from_ical(bench.ics.read_bytes())
    for ev in cal.walk("VEVENT"):
        if str(ev.get("UID", "")).startswith("seed-"):
            continue
        start = ev.decoded("DTSTART")
        if isinstance(start, datetime) and start.tzinfo is not None:
            start = start.astimezone(bench.now.tzinfo)
        title = str(ev.get("SUMMARY", ""))
        if all(_has(title, w) for w in e["title_words"]) and getattr(start, "date", lambda: start)() == day \
                and (start.hour, start.minute) == (e["hour"], e["minute"]):
            return True
    return False


def score(bench: Bench, ask: corpus.Ask, rec) -> None:
    """Fill rec.correct and rec.outcome from the replies, the state and what was asked along the way."""
    done, why = check(bench, ask, rec.replies)
    rec.correct, rec.why = done, (rec.why + why).strip()
    if ask.task == "ignore":
        rec.outcome = "ignored" if done else "false_accept"
    elif rec.outcome == "asked_repeat" or any("didn't catch" in r for r in rec.replies[:1]):
        rec.outcome = "asked_repeat"
    elif not rec.replies:
        rec.outcome = "no_reply"
    elif done:
        rec.outcome = "confirmed" if rec.replies[0].startswith("Did you say") else "fulfilled"
    else:
        rec.outcome = "wrong"
