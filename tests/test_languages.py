"""assistant.language other than English: typed German, French and Spanish requests reach the right skill
and are answered in that language, out loud through espeak-ng's voice for it (the real TTS factory); the
speech and LLM settings that follow the language; and what has no sentences in it goes to the LLM."""
from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from fixtures_skills import NOW, make_config, make_registry
from penny import languages
from penny.adapters.tts.espeak import espeak_binary
from penny.adapters.tts.factory import build_tts
from penny.catalog import find
from penny.config import parse_config
from penny.core.assistant import system_prompt
from penny.intents.conversation import start_over, yes_or_no
from penny.plugins.base import ManualClock
from penny.plugins.loading import build_plugins
from fixtures_llm import LLMStub

needs_espeak = pytest.mark.skipif(espeak_binary() is None, reason="espeak-ng is not installed")
WEATHER = {"current": {"temperature_2m": 17.2, "weather_code": 2, "wind_speed_10m": 9.0},
           "daily": {"weather_code": [61, 1, 3], "temperature_2m_max": [19.4, 23.1, 21.0],
                     "temperature_2m_min": [8.6, 11.2, 12.0], "precipitation_probability_max": [70, 10, 20]}}


def registry_in(language: str, tmp_path, **plugins):
    cfg = make_config(**plugins)
    cfg.assistant.language = language
    return build_plugins(cfg, clock=ManualClock(NOW), data_dir=tmp_path / "data")


def config_in(language: str, tmp_path, **sections):
    return parse_config({"assistant": {"language": language},
                         "tts": {"cache": {"enabled": False, "dir": str(tmp_path / "tts")}}, **sections})


async def spoken(cfg, text: str) -> float:
    """Seconds of audio the configured voice makes of `text` (through the real factory's chain)."""
    tts = build_tts(cfg, cache=False)
    samples = [chunk.samples async for chunk in tts.synthesize(text)]
    audio = np.concatenate(samples) if samples else np.zeros(0)
    assert np.abs(audio.astype(np.float32)).max() > 0, "silence"
    return len(audio) / tts.sample_rate


@pytest.fixture(scope="module")
def open_meteo():
    """A stand-in Open-Meteo on 127.0.0.1: 17 degrees, partly cloudy."""
    from benchmarks.accuracy_scoring import weather_server

    server = weather_server(lambda: NOW.date())
    yield f"http://127.0.0.1:{server.server_port}/v1/forecast"
    server.shutdown()


# ---------------------------------------------------------------- end to end: typed request -> spoken answer

ASKED = [
    ("de", "Wie spät ist es?", "clock.time", "Es ist 08:00."),
    ("fr", "Quelle heure est-il ?", "clock.time", "Il est 08:00."),
    ("es", "¿Qué hora es?", "clock.time", "Son las 8 de la mañana."),
    ("de", "Welcher Tag ist heute?", "clock.date", "Es ist Mittwoch der 25. November 2026."),
    ("fr", "Quelle est la date ?", "clock.date", "Nous sommes le 25 novembre 2026."),
    ("es", "¿Qué día es hoy?", "clock.date", "Es miércoles, 25 de noviembre de 2026."),
]


@needs_espeak
@pytest.mark.parametrize("language,said,intent,answer", ASKED)
async def test_clock_requests_are_answered_and_spoken_in_the_language(tmp_path, language, said, intent, answer):
    registry = registry_in(language, tmp_path)
    match = registry.route(said)
    assert match is not None and f"{match.plugin}.{match.intent}" == intent
    result = await registry.handle_text("s", said)
    assert result.text == answer
    cfg = config_in(language, tmp_path)
    assert await spoken(cfg, result.text) > 0.5


@needs_espeak
@pytest.mark.parametrize("language,said,answer", [
    ("de", "Stelle einen Timer für 5 Minuten", "Timer für 5 Minuten gestartet."),
    ("fr", "Mets un minuteur de 5 minutes", "Minuteur lancé."),
    ("es", "Pon un temporizador de 5 minutos", "Temporizador iniciado."),
])
async def test_a_timer_is_really_set_and_confirmed_in_the_language(tmp_path, language, said, answer):
    registry = registry_in(language, tmp_path)
    match = registry.route(said)
    assert (match.plugin, match.intent) == ("timers", "set_timer")
    result = await registry.handle_text("s", said)
    assert result.text == answer and result.data["english"].startswith("Okay, timer set for")
    listed = await registry.call_tool("list_timers", {})
    assert [t["duration_s"] for t in listed.data["timers"]] == [300]
    assert await spoken(config_in(language, tmp_path), result.text) > 0.5


async def test_timer_status_which_and_none_in_german(tmp_path):
    registry = registry_in("de", tmp_path)
    assert (await registry.handle_text("s", "Stoppe den Timer")).text == "Es läuft kein Timer."
    await registry.handle_text("s", "Stelle einen Timer für 5 Minuten")
    await registry.handle_text("s", "Stelle einen Timer für 10 Minuten namens Pasta")
    status = await registry.handle_text("s", "Wie lange läuft der Timer noch")
    assert status.text.startswith("2 laufende Timer. 5 Minuten verbleiben")
    assert (await registry.handle_text("s", "Stoppe den Timer")).text == \
        "Es laufen 2 Timer. Welchen soll ich stoppen?"
    assert (await registry.handle_text("s", "Stoppe den Pasta Timer")).text == "Timer gestoppt."
    assert [t["name"] for t in (await registry.call_tool("list_timers", {})).data["timers"]] == [None]


@pytest.mark.parametrize("language,said,answer", [
    ("de", "Wie ist das Wetter?", "17 Grad und teilweise bewölkt."),
    ("fr", "Quel temps fait-il ?", "Éclaircies et il fait 17 degrés."),
    ("es", "¿Qué tiempo hace?", "Cielos parcialmente nublados, con una temperatura de 17 °C."),
])
async def test_weather_in_the_language(tmp_path, open_meteo, language, said, answer):
    registry = registry_in(language, tmp_path, weather={"latitude": 52.5, "longitude": 13.4, "base_url": open_meteo})
    assert registry.route(said).plugin == "weather"
    assert (await registry.handle_text("s", said)).text == answer


@pytest.mark.parametrize("language,add,added,again,remove,removed", [
    ("de", "Füge Milch zur Einkaufsliste hinzu", "Milch hinzugefügt.", "Milch steht schon auf der Liste.",
     "Lösche Milch von der Einkaufsliste", "Milch abgehakt."),
    ("es", "Añade leche a la lista de la compra", "He añadido leche.", "Leche ya está en la lista.",
     None, None),
])
async def test_shopping_list_in_the_language(tmp_path, language, add, added, again, remove, removed):
    registry = registry_in(language, tmp_path)
    assert (registry.route(add).plugin, registry.route(add).intent) == ("notes", "list_add")
    assert (await registry.handle_text("s", add)).text == added
    assert (await registry.handle_text("s", add)).text == again
    if remove:
        assert (await registry.handle_text("s", remove)).text == removed


async def test_skill_errors_are_said_in_the_language(tmp_path):
    registry = registry_in("de", tmp_path)  # the weather has no location yet
    assert (await registry.handle_text("s", "Wie ist das Wetter?")).text.startswith("Ich weiß noch nicht, wo du bist")
    result = await registry.call_tool("set_timer", {"duration": "banana"})
    assert result.text == "Wie lange soll der Timer laufen?"


async def test_english_is_unchanged(tmp_path):
    registry, _ = make_registry(tmp_path)
    result = await registry.handle_text("s", "What time is it?")
    assert result.text == "It's 8 am." and "english" not in result.data


# ---------------------------------------------------------------- what has no sentences goes to the LLM

@pytest.mark.parametrize("language,said", [
    ("de", "Was steht heute in meinem Kalender?"),
    ("de", "Merk dir, dass der Schlüssel unter der Matte liegt"),
    ("fr", "Qu'est-ce qu'il y a dans mon agenda aujourd'hui ?"),
    ("es", "¿Qué tengo hoy en mi calendario?"),
])
async def test_a_skill_without_sentences_in_the_language_falls_to_the_llm(tmp_path, language, said):
    registry = registry_in(language, tmp_path)
    assert registry.route(said) is None
    assert await registry.handle_text("s", said) is None and await registry.act("s", said) is None


class GermanLLM(LLMStub):
    name, model, supports_tools = "scripted", "script-1", False

    def __init__(self):
        self.seen: list = []

    async def stream(self, messages, tools=None):
        from penny.core.events import TextDelta

        self.seen.append(messages)
        yield TextDelta("Heute steht nichts an.")


@needs_espeak
async def test_the_assistant_answers_skills_itself_and_the_rest_through_the_llm_in_german(tmp_path):
    from penny.core.assistant import Assistant
    from penny.core.events import ReplyDone
    from penny.memory.store import MemoryStore

    cfg = config_in("de", tmp_path)
    llm = GermanLLM()
    assistant = Assistant(cfg, llm, registry_in("de", tmp_path), MemoryStore(tmp_path / "m.db"))

    async def reply(text: str) -> str:
        return [e async for e in assistant.reply("s", text) if isinstance(e, ReplyDone)][0].text

    assert await reply("Wie spät ist es?") == "Es ist 08:00." and not llm.seen
    assert await reply("Was steht heute in meinem Kalender?") == "Heute steht nichts an."
    assert llm.seen[0][0]["content"].endswith("Always reply in German, whatever language the question is in.")
    assert await spoken(cfg, "Es ist 08:00.") > 0.5


def test_missing_sentences_are_listed_and_reported(tmp_path):
    registry = registry_in("de", tmp_path)
    gaps = languages.missing(registry)
    assert "calendar" in gaps and "notes" in gaps and "clock" not in gaps
    assert "set_timer" not in gaps.get("timers", [])
    assert "read" in gaps["calendar"]
    assert "home-assistant-intents" in registry.router.library.sources["HassGetCurrentTime"]
    cfg = make_config()
    cfg.assistant.language = "de"
    checks = languages.doctor_checks(cfg)
    warn = next(c for c in checks if c.status == "warn")
    assert "calendar" in warn.detail and "notes" in warn.detail and "custom_sentences/de" in warn.fix
    assert [c.status for c in languages.doctor_checks(make_config())] == ["ok"]


# ---------------------------------------------------------------- yes, no, start over

@pytest.mark.parametrize("language,yes,no,again", [
    ("de", ["ja", "Ja, bitte", "genau"], ["nein", "Nein danke", "lieber nicht"],
     ["neu anfangen", "Lass uns von vorne anfangen"]),
    ("fr", ["oui", "Oui, s'il te plaît", "d'accord"], ["non", "Non merci", "laisse tomber"],
     ["recommencer", "On recommence à zéro"]),
    ("es", ["sí", "Sí, por favor", "vale"], ["no", "No, gracias", "mejor no"],
     ["empezar de nuevo", "Vamos a empezar de nuevo"]),
])
def test_yes_no_and_start_over_in_each_language(language, yes, no, again):
    assert all(yes_or_no(t, language) is True for t in yes)
    assert all(yes_or_no(t, language) is False for t in no)
    assert all(start_over(t, language) for t in again)
    assert yes_or_no("Wie spät ist es? Quelle heure est-il ?", language) is None
    assert not start_over(yes[0], language)


# ---------------------------------------------------------------- speech and the LLM follow the language

def test_whisper_language_follows_the_assistant_unless_set(tmp_path):
    assert languages.stt_language(parse_config({}))[0] == "en"
    lang, warning, fix = languages.stt_language(parse_config({"assistant": {"language": "de"}}))
    assert lang == "en" and "English only" in warning and "German" in warning
    assert "penny models pull whisper-base" in fix
    model = str(tmp_path / "whisper-small")
    assert languages.stt_language(parse_config({"assistant": {"language": "de-DE"}, "stt": {"model": model}})) \
        == ("de", "", "")
    assert languages.stt_language(parse_config({"assistant": {"language": "de"},
                                                "stt": {"model": model, "language": "fr"}}))[0] == "fr"
    assert languages.stt_language(parse_config({"assistant": {"language": "de"},
                                                "stt": {"model": model, "language": None}}))[0] is None
    from penny.adapters.stt.factory import language

    assert language(parse_config({"assistant": {"language": "es"}, "stt": {"model": model}})) == "es"
    assert language(parse_config({"assistant": {"language": "es"}}).stt) == "en"  # a bare section: as set


def test_a_multilingual_whisper_is_in_the_catalogue():
    for name in ("whisper-base", "whisper-small"):
        model = find(name)
        assert model.kind == "stt" and not languages.english_only(model.repo_id)
        assert "multilingual" in model.summary and model.cost.describe() == "cost: not measured here"
    assert languages.english_only(find("whisper-tiny.en").repo_id) and languages.english_only("tiny.en")


@needs_espeak
async def test_an_english_piper_voice_gives_way_to_espeak_in_german(tmp_path):
    cfg = config_in("de", tmp_path)
    plan = languages.voice(cfg)
    assert (plan.engine, plan.voice) == ("espeak", "de") and "English" in plan.notes[0]
    tts = build_tts(cfg, cache=False)
    assert [(e.name, e.voice) for e in tts.inner.engines] == [("espeak", "de")]
    english = config_in("en", tmp_path)
    assert [e.name for e in build_tts(english, cache=False).inner.engines] == ["piper", "espeak"]
    kept = config_in("fr", tmp_path, tts={"provider": "espeak", "espeak_voice": "fr-be",
                                          "cache": {"enabled": False}})
    assert build_tts(kept, cache=False).voice == "fr-be"  # a voice the user chose stays
    # The espeak fallback behind a matching voice speaks the language too.
    gtts = config_in("es", tmp_path, tts={"provider": "gtts", "cache": {"enabled": False}})
    assert [(e.name, e.voice) for e in build_tts(gtts, cache=False).inner.engines] == [("gtts", "es"), ("espeak", "es")]
    from penny.adapters.tts.factory import doctor_checks

    rows = [c for c in doctor_checks(cfg) if "German" in c.detail]
    assert rows and rows[0].status == "warn" and "espeak" in rows[0].detail and "Piper voice" in rows[0].fix


def test_the_llm_is_told_to_reply_in_the_language():
    assert "Always reply in" not in system_prompt(parse_config({}))
    assert system_prompt(parse_config({"assistant": {"language": "de"}})).endswith(
        "Always reply in German, whatever language the question is in.")
    assert "Always reply in French" in system_prompt(parse_config({"assistant": {"language": "fr-CA"}}))
    own = system_prompt(parse_config({"assistant": {"language": "es", "system_prompt": "Be Penny."}}))
    assert own.startswith("Be Penny.") and "Always reply in Spanish" in own
    assert languages.name("pt-BR") == "Portuguese" and languages.base("de_DE") == "de"


def test_dates_render_from_home_assistant_templates():
    from penny.intents.answers import render
    from penny.intents.library import load

    responses = load("es", {"HassGetCurrentDate"}).responses
    text = render(responses["HassGetCurrentDate"]["default"], {"iso": date(2026, 1, 1).isoformat()}, NOW)
    assert text == "Es jueves, 1 de enero de 2026."


@pytest.mark.parametrize("language,said", [("de", "Hast du gesagt: stelle einen Timer?"),
                                           ("fr", "Tu as dit : stelle einen Timer ?"),
                                           ("es", "¿Has dicho: stelle einen Timer?")])
def test_clarifications_are_asked_in_the_language(language, said):
    from penny.core.understanding import did_you_say
    from penny.intents.answers import phrase

    assert did_you_say("stelle einen Timer.", phrase("did_you_say", language, "")) == said
    for key in ("not_caught", "say_again", "start_over", "declined"):
        assert phrase(key, language, "ENGLISH") != "ENGLISH"
    assert phrase("not_caught", "en", "Sorry, I didn't catch that.") == "Sorry, I didn't catch that."
