"""assistant.language -> what each part of Penny uses: Whisper's language, the voice, the LLM's reply
language and which skills have sentences in it.

English ships complete. For another language Penny uses home-assistant-intents' sentences, espeak-ng's
voice for it (a Piper voice or a multilingual Whisper model where the user pulled one), and says what
is missing (`penny doctor`, `penny intents`).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# English names, for the LLM's instruction ("Always reply in German.") and for messages.
NAMES = {"en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian", "nl": "Dutch",
         "pt": "Portuguese", "pl": "Polish", "sv": "Swedish", "da": "Danish", "nb": "Norwegian",
         "no": "Norwegian", "fi": "Finnish", "cs": "Czech", "sk": "Slovak", "hu": "Hungarian", "ro": "Romanian",
         "el": "Greek", "tr": "Turkish", "ru": "Russian", "uk": "Ukrainian", "ca": "Catalan", "ja": "Japanese",
         "zh": "Chinese", "ko": "Korean", "ar": "Arabic", "he": "Hebrew", "hi": "Hindi"}
MULTILINGUAL_WHISPER = "whisper-base"  # the catalogue entry doctor suggests (whisper-small: better, slower)


def base(language: str | None) -> str:
    """'de-DE', 'de_DE', 'DE' -> 'de' (Whisper and the LLM want the bare code)."""
    return (language or "en").strip().replace("_", "-").split("-")[0].lower() or "en"


def name(language: str | None) -> str:
    return NAMES.get(base(language), language or "English")


def _explicit(section, key: str) -> bool:
    return key in getattr(section, "model_fields_set", ())


def english_only(model: str | None) -> bool:
    """Whisper's '.en' models (tiny.en, the bundled default) only hear English."""
    stem = Path(str(model or "tiny.en").rstrip("/\\")).name.lower()
    return stem.endswith((".en", "-en", "_en"))


@dataclass(frozen=True)
class Voice:
    """How Penny speaks the configured language, and why (doctor prints `notes` and `fixes`)."""

    language: str  # assistant.language, bare code
    engine: str  # piper | espeak | gtts
    voice: str | None  # None: the engine's configured voice
    notes: tuple[str, ...] = ()
    fixes: tuple[str, ...] = ()


def stt_language(cfg) -> tuple[str | None, str, str]:
    """(Whisper's language, a warning, its fix): stt.language when set explicitly, else assistant.language;
    an English-only model stays on English, with a warning naming the model to pull."""
    wanted = cfg.stt.language if _explicit(cfg.stt, "language") else cfg.assistant.language
    wanted = None if wanted is None else base(wanted)  # None: Whisper detects the language
    if wanted is not None and base(wanted) != "en" and english_only(cfg.stt.model):
        return ("en", f"Whisper model {cfg.stt.model} hears English only, so Penny can't understand spoken "
                      f"{name(wanted)} (typed requests still work)",
                f"penny models pull {MULTILINGUAL_WHISPER}, then penny models use {MULTILINGUAL_WHISPER} "
                f"(whisper-small hears better and is slower)")
    return wanted, "", ""


def piper_language(voice: str | None) -> str | None:
    """The configured Piper voice's language (from its .onnx.json), or None when it can't be read."""
    try:
        from penny.adapters.tts.piper import _voice_config, resolve_voice

        return base((_voice_config(resolve_voice(voice)).get("language") or {}).get("code"))
    except Exception:
        return None


@lru_cache(maxsize=16)
def espeak_voice(language: str) -> str | None:
    """espeak-ng's voice for `language` ('de', 'fr', 'pt-br'), or None when espeak-ng has none."""
    from penny.adapters.tts.espeak import list_voices

    code = language.replace("_", "-").lower()
    for wanted in dict.fromkeys([code, base(code)]):
        if list_voices(wanted):
            return wanted
    return None


def voice(cfg) -> Voice:
    """A Piper voice in another language gives way to espeak-ng's voice for assistant.language."""
    from penny.adapters.tts.factory import canonical

    lang = base(cfg.assistant.language)
    tcfg = cfg.tts
    engine, chosen, notes, fixes = canonical(tcfg.provider), None, [], []
    if lang == "en":
        return Voice(lang, engine, None)
    if engine == "piper":
        spoken = piper_language(tcfg.voice)
        if spoken is not None and spoken != lang:
            engine = "espeak"
            notes.append(f"the Piper voice speaks {name(spoken)}, not {name(lang)}: using espeak-ng's "
                         f"{name(lang)} voice")
            fixes.append(f"for a natural voice put a {lang} Piper voice in the voices folder and set tts.voice to it")
    if engine == "espeak" and not _explicit(tcfg, "espeak_voice"):
        chosen = espeak_voice(lang)
        if chosen is None:
            notes.append(f"espeak-ng has no {name(lang)} voice")
            fixes.append("install espeak-ng with its language data (sudo apt install espeak-ng)")
    if engine == "gtts" and not _explicit(tcfg, "language"):
        chosen = lang
    return Voice(lang, engine, chosen, tuple(notes), tuple(fixes))


def reply_instruction(cfg) -> str:
    """The system prompt's line for the LLM's language ('' for English)."""
    lang = base(cfg.assistant.language)
    return "" if lang == "en" else f"Always reply in {name(lang)}, whatever language the question is in."


# ---------------------------------------------------------------- skills per language

def missing(registry) -> dict[str, list[str]]:
    """plugin -> its intents the language has no sentences for (those requests go to the LLM)."""
    out: dict[str, list[str]] = {}
    for name_ in registry.router.missing():
        plugin, _, intent = name_.partition(".")
        out.setdefault(plugin, []).append(intent)
    return out


def doctor_checks(cfg) -> list:
    import tempfile

    from penny.health import OK, WARN, Check
    from penny.plugins.loading import build_plugins

    lang = base(cfg.assistant.language)
    if lang == "en":
        return [Check("language", OK, "English", required=False)]
    with tempfile.TemporaryDirectory() as tmp:  # only the sentence library is wanted, not the user's data
        gaps = missing(build_plugins(cfg, data_dir=Path(tmp)))
    said = "; ".join(f"{plugin} ({', '.join(intents)})" for plugin, intents in sorted(gaps.items()))
    return [Check("language", OK, f"{name(lang)}: the LLM is told to reply in {name(lang)}", required=False),
            Check("language", WARN if gaps else OK,
                  f"no {name(lang)} sentences for {said}: those requests go to the LLM" if gaps
                  else f"every skill has {name(lang)} sentences",
                  fix=f"add sentences in custom_sentences/{lang}/*.yaml (Home Assistant's format)" if gaps else "",
                  required=False)]
