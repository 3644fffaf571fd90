"""`describe` -> `info`: every service Penny offers over Wyoming, so Home Assistant can add them.

Home Assistant's Wyoming integration reads this once when the server is added: a program per domain
(asr, tts, wake, handle), each with its models or voices, their languages, versions and attribution.
"""
from __future__ import annotations

import importlib.metadata
import re

from wyoming.info import (AsrModel, AsrProgram, Attribution, HandleModel, HandleProgram, Info, TtsProgram,
                          TtsVoice, WakeModel, WakeProgram)

PENNY = Attribution(name="Penny", url="")  # no public home page yet: an honest blank, not a made-up address
WHISPER = Attribution(name="OpenAI Whisper via SYSTRAN faster-whisper", url="https://github.com/SYSTRAN/faster-whisper")
PIPER = Attribution(name="Piper (Open Home Foundation)", url="https://github.com/OHF-Voice/piper1-gpl")
ESPEAK = Attribution(name="eSpeak NG", url="https://github.com/espeak-ng/espeak-ng")
OWW = Attribution(name="openWakeWord (David Scripka)", url="https://github.com/dscripka/openWakeWord")


def version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def voice_languages(voice: str, fallback: str) -> list[str]:
    """Piper names its voices by locale (en_US-joe-medium): that locale, else the configured language."""
    m = re.match(r"([a-z]{2,3})_([A-Z]{2})\b", voice or "")
    return [m.group(0)] if m else [fallback]


def wake_models(cfg) -> list[WakeModel]:
    """The configured phrases ("hey penny", matched on transcripts) and every openWakeWord model."""
    lang = [cfg.assistant.language]
    acoustic = cfg.wake.engine != "phrase"  # then "hey_penny" is Penny's acoustic model, not a transcript match
    models = [WakeModel(name="hey_penny", phrase="Hey Penny", languages=["en"], attribution=PENNY, installed=True,
                        version=version("penny"), description="Penny's acoustic 'Hey Penny' model (ONNX)")
              ] if acoustic else []
    models += [WakeModel(name=p.strip().lower().replace(" ", "_"), phrase=p.strip().title(), languages=lang,
                         attribution=PENNY, installed=True, version=version("penny"),
                         description=f"'{p.strip().title()}' found at the start of a transcribed utterance")
               for p in cfg.wake.phrases if p.strip() and not (acoustic and p.strip().lower() == "hey penny")]
    try:
        from penny.adapters.wake.openwakeword import builtin_models

        builtin = builtin_models()
    except Exception:  # noqa: BLE001 - without the package only the phrases are offered
        builtin = []
    models += [WakeModel(name=name, phrase=name.replace("_", " ").title(), languages=["en"], attribution=OWW,
                         installed=True, version=version("pyopen-wakeword"), description=f"openWakeWord {name}")
               for name in builtin]
    return models


def build_info(engines) -> Info:
    cfg = engines.cfg
    penny_version = version("penny")
    stt_lang = cfg.stt.language or cfg.assistant.language
    asr = AsrProgram(
        name="penny-stt", attribution=PENNY, installed=True, version=penny_version,
        description="Penny speech-to-text: faster-whisper with a short window and vocabulary biasing",
        models=[AsrModel(name=str(cfg.stt.model), attribution=WHISPER, installed=True,
                         version=version("faster-whisper"), languages=[stt_lang],
                         description=f"Whisper {cfg.stt.model} ({cfg.stt.compute_type}, beam {cfg.stt.beam_size})")],
        supports_transcript_streaming=True,
        requires_external_vad=True)  # Penny transcribes what it is sent: the satellite or Home Assistant ends it
    tts_engine = getattr(engines.tts, "name", "piper")
    voice = str(getattr(engines.tts, "voice", "") or "")
    tts = TtsProgram(
        name="penny-tts", attribution=PENNY, installed=True, version=penny_version,
        description="Penny text-to-speech with its phrase cache; audio as each sentence is ready",
        voices=[TtsVoice(name=voice or tts_engine, attribution=PIPER if tts_engine == "piper" else ESPEAK,
                         installed=True, version=version("piper-tts") if tts_engine == "piper" else None,
                         languages=voice_languages(voice, cfg.tts.language), description=f"{tts_engine} {voice}")],
        supports_synthesize_streaming=True)
    wake = WakeProgram(name="penny-wake", attribution=PENNY, installed=True, version=penny_version,
                       description="Penny wake words: its phrase engine and openWakeWord models",
                       models=wake_models(cfg))
    llm = getattr(engines.llm, "name", None) or "llm"
    handle = HandleProgram(
        name="penny", attribution=PENNY, installed=True, version=penny_version,
        description="Penny's assistant: skills (timers, calendar, notes, weather, clock), memory and its LLM chain",
        models=[HandleModel(name=f"penny-{cfg.assistant.name.lower()}", attribution=PENNY, installed=True,
                            version=penny_version, languages=[cfg.assistant.language],
                            description=f"{cfg.assistant.name}: skills first, then the LLM ({llm})")],
        supports_handled_streaming=False, supports_home_control=False)
    return Info(asr=[asr], tts=[tts], wake=[wake], handle=[handle])
