"""build_tts(cfg): the configured voice, with its fallbacks, behind the phrase cache.

    CachedTTS(FallbackTTS([primary, *fallbacks]))

The cache files audio under the engine that actually produced it, so a fallback's audio is
never served later as if it were the primary's.
"""
from __future__ import annotations

from penny.adapters.names import Names
from penny.errors import ConfigError, PennyError

NAMES = Names("TTS engine", {
    "piper": "piper", "piper_tts": "piper",
    "espeak": "espeak", "espeak_ng": "espeak", "espeakng": "espeak",
    "gtts": "gtts", "google": "gtts", "google_tts": "gtts",
})
ENGINES = NAMES.engines
canonical = NAMES.canonical


def _section(cfg):
    return getattr(cfg, "tts", cfg)


def build_engine(name: str, cfg, voice: str | None = None):
    """One engine, no fallback or cache. `voice` overrides the configured voice of that engine."""
    tcfg = _section(cfg)
    engine = canonical(name)
    if engine == "piper":
        from penny.adapters.tts.piper import PiperTTS

        return PiperTTS(voice or tcfg.voice, length_scale=tcfg.length_scale, noise_scale=tcfg.noise_scale,
                        noise_w=tcfg.noise_w, speaker_id=tcfg.speaker_id)
    if engine == "espeak":
        from penny.adapters.tts.espeak import EspeakTTS

        return EspeakTTS(voice or tcfg.espeak_voice, length_scale=tcfg.length_scale)
    from penny.adapters.tts.gtts import GTTS

    return GTTS(voice or tcfg.language, slow=tcfg.length_scale > 1.5)


def language_voices(cfg, engine: str | None = None) -> tuple[str, dict[str, str]]:
    """The engine to speak with and each engine's voice for assistant.language (penny.languages): a Piper
    voice in another language gives way to espeak-ng's voice for it. Only a whole config has a language."""
    tcfg = _section(cfg)
    primary = canonical(engine or tcfg.provider)
    if not hasattr(cfg, "assistant"):
        return primary, {}
    from penny import languages

    lang = languages.base(cfg.assistant.language)
    if lang == "en":
        return primary, {}
    plan = languages.voice(cfg)
    voices: dict[str, str] = {}
    if "espeak_voice" not in tcfg.model_fields_set and (found := languages.espeak_voice(lang)):
        voices["espeak"] = found
    if "language" not in tcfg.model_fields_set:
        voices["gtts"] = lang
    if engine is None:
        primary = plan.engine
        if plan.voice:
            voices[primary] = plan.voice
    return primary, voices


def cache_dir(cfg) -> str:
    from penny.config import user_data_dir

    tcfg = _section(cfg)
    return tcfg.cache.dir or str(user_data_dir() / "tts-cache")


def build_tts(cfg, *, engine: str | None = None, voice: str | None = None, cache: bool | None = None):
    """The configured voice (or `engine`/`voice` overrides) wrapped as CachedTTS(FallbackTTS([...]))."""
    from penny.adapters.tts.cache import CachedTTS, DiskCache
    from penny.adapters.tts.fallback import FallbackTTS

    tcfg = _section(cfg)
    primary_name, voices = language_voices(cfg, engine)
    if voice:
        voices[primary_name] = voice
    names = [primary_name] + [n for n in dict.fromkeys(canonical(f) for f in tcfg.fallbacks) if n != primary_name]
    engines, errors = [], []
    for i, name in enumerate(names):
        try:
            engines.append(build_engine(name, tcfg, voices.get(name)))
        except PennyError as exc:  # e.g. a missing Piper voice: the fallback still speaks
            if i == 0 and len(names) == 1:
                raise
            errors.append(exc)
    if not engines:
        raise errors[0]
    if errors:
        import logging

        logging.getLogger("penny.tts").warning("TTS engine unavailable, using %s: %s", engines[0].name, errors[0])
    use_cache = tcfg.cache.enabled if cache is None else cache
    disk = DiskCache(cache_dir(tcfg), tcfg.cache.max_mb * 2**20) if use_cache else None
    language = cfg.assistant.language if hasattr(cfg, "assistant") else "en"
    return CachedTTS(FallbackTTS(engines), disk=disk, memory_items=tcfg.cache.memory_items if use_cache else 0,
                     language=language)


def list_voices(cfg=None) -> list[dict]:
    """Every voice Penny can use offline, plus gTTS's languages when gTTS is installed."""
    from penny.adapters.tts import espeak, piper

    voices = piper.list_voices() + espeak.list_voices()
    try:
        from gtts.lang import tts_langs

        voices += [{"engine": "gtts", "name": code, "language": code, "sample_rate": 24000,
                    "description": f"{lang} (needs internet)"} for code, lang in sorted(tts_langs().items())
                   if code.startswith("en")]
    except ImportError:  # gTTS is optional: its voices are listed only where it is installed
        pass
    return voices


def doctor_checks(cfg) -> list:
    import time

    from penny.adapters.tts.espeak import INSTALL_HINT, espeak_binary
    from penny.health import FAIL, OK, WARN, Check

    tcfg = _section(cfg)
    checks = []
    try:
        provider = canonical(tcfg.provider)
        if provider == "gtts":
            checks.append(Check("tts", WARN, "gTTS needs internet access to Google",
                                fix="For offline speech set tts.provider to \"piper\".", required=False))
        names = [provider] + [canonical(f) for f in tcfg.fallbacks]
    except ConfigError as exc:
        return [Check("tts", FAIL, exc.message)]
    if hasattr(cfg, "assistant"):
        from penny import languages

        plan = languages.voice(cfg)
        if plan.language != "en":
            checks.append(Check("tts", WARN if plan.notes else OK,
                                f"{languages.name(plan.language)}: {plan.engine} speaks"
                                f"{' with voice ' + plan.voice if plan.voice else ''}"
                                + "".join(f"; {n}" for n in plan.notes), fix="; ".join(plan.fixes), required=False))
    if "piper" in names:
        try:
            engine = build_engine("piper", tcfg)
            t0 = time.perf_counter()
            audio = engine.synthesize_blocking("Hello.")
            ok = audio and sum(len(c.samples) for c in audio) > 0
            checks.append(Check("tts", OK if ok else FAIL,
                                f"piper voice {engine.voice} loaded and spoke in {time.perf_counter() - t0:.1f}s"
                                if ok else f"piper voice {engine.voice} produced no audio",
                                required=provider == "piper"))
        except PennyError as exc:
            checks.append(Check("tts", FAIL, f"piper: {exc.message}", fix=exc.hint or "",
                                required=provider == "piper"))
    exe = espeak_binary()
    checks.append(Check("tts", OK if exe else WARN if provider != "espeak" else FAIL,
                        f"espeak-ng at {exe}" if exe else "espeak-ng is not installed (the fallback voice)",
                        fix="" if exe else INSTALL_HINT, required=provider == "espeak"))
    if tcfg.cache.enabled:
        try:
            from penny.adapters.tts.cache import DiskCache

            d = DiskCache(cache_dir(tcfg), tcfg.cache.max_mb * 2**20)
            checks.append(Check("tts", OK, f"phrase cache {d.dir} ({d.size_bytes / 2**20:.1f} of "
                                           f"{tcfg.cache.max_mb} MB)", required=False))
        except OSError as exc:
            checks.append(Check("tts", WARN, f"phrase cache not writable: {exc}",
                                fix="Set tts.cache.dir to a writable folder.", required=False))
    return checks


async def speak(tts, text: str, sink) -> dict:
    """Split `text` into speakable sentences, synthesize each and play it into `sink` (for `penny say`)."""
    from penny.core.sentences import split_sentences

    audio_s, used = 0.0, []
    for sentence in split_sentences(text, getattr(tts, "language", "en")):
        async for chunk in tts.synthesize(sentence):
            audio_s += chunk.duration_s
            await sink.write(chunk)
        used.append(getattr(tts, "last_used", "") or tts.name)
    await sink.drain()
    return {"audio_s": audio_s, "engines": sorted(set(used))}
