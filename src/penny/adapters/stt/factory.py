"""build_stt(cfg): the configured speech-to-text engine. Model names resolve to folders on disk,
never to a download: "tiny.en" is the bundled model; other names must already be cached."""
from __future__ import annotations

from pathlib import Path

from penny.adapters.names import Names
from penny.errors import ConfigError, ModelNotFound

NAMES = Names("stt.provider", {"faster_whisper": "faster_whisper", "fasterwhisper": "faster_whisper",
                                "whisper": "faster_whisper"})
BUNDLED = {"tiny.en", "tiny-en", "tiny_en", "whisper-tiny.en", "systran/faster-whisper-tiny.en"}


def _section(cfg):
    return getattr(cfg, "stt", cfg)


def _download_hint(name: str) -> str:
    return (f"Where the network allows, download it with: .venv/bin/python -c "
            f"\"from faster_whisper import download_model; print(download_model('{name}'))\" "
            f"and set stt.model to the printed folder (or keep the name: it is then found in the "
            f"Hugging Face cache). The bundled 'tiny.en' works offline.")


def resolve_model(name: str) -> Path:
    """A model name or path → a CTranslate2 model folder on disk, or ModelNotFound."""
    name = (name or "").strip()
    if name.lower() in BUNDLED:
        from penny.models import whisper_tiny_en

        return whisper_tiny_en()
    path = Path(name).expanduser()
    if path.exists():
        if (path / "model.bin").is_file():
            return path
        raise ModelNotFound(f"{path} is not a faster-whisper (CTranslate2) model folder: it has no model.bin.",
                            hint="Point stt.model at a folder with model.bin, config.json and tokenizer.json.")
    looks_like_path = name.startswith((".", "/", "~")) or name.count("/") > 1 or name.endswith(".bin")
    if looks_like_path or not name:
        raise ModelNotFound(f"No Whisper model folder at {name or '(empty stt.model)'}.",
                            hint="Fix stt.model, or use 'tiny.en' (bundled).")
    try:
        from faster_whisper.utils import download_model

        found = download_model(name, local_files_only=True)
    except Exception:
        raise ModelNotFound(f"Whisper model '{name}' is not on disk.", hint=_download_hint(name)) from None
    return Path(found)


def language(cfg) -> str | None:
    """Whisper's language: stt.language if set, else assistant.language (penny.languages); only a whole
    config has the latter, and an English-only model stays on English."""
    if not hasattr(cfg, "assistant"):
        return _section(cfg).language
    from penny.languages import stt_language

    return stt_language(cfg)[0]


def build_stt(cfg):
    scfg = _section(cfg)
    NAMES.canonical(scfg.provider)  # the one engine: faster-whisper
    from penny.adapters.stt.faster_whisper import FasterWhisperSTT

    return FasterWhisperSTT(str(resolve_model(scfg.model)), model_name=scfg.model, device=scfg.device,
                            compute_type=scfg.compute_type, beam_size=scfg.beam_size, language=language(cfg),
                            initial_prompt=scfg.initial_prompt, cpu_threads=scfg.cpu_threads,
                            no_speech_threshold=scfg.no_speech_threshold, short_window_s=scfg.short_window_s,
                            hypotheses=scfg.hypotheses)


def doctor_checks(cfg) -> list:
    import time

    from penny.health import FAIL, OK, WARN, Check

    scfg = _section(cfg)
    checks = []
    if hasattr(cfg, "assistant"):
        from penny.languages import stt_language

        _, warning, fix = stt_language(cfg)
        if warning:
            checks.append(Check("stt", WARN, warning, fix=fix, required=False))
    try:
        stt = build_stt(cfg)
        t0 = time.perf_counter()
        stt.warmup()
        return checks + [Check("stt", OK, f"faster-whisper {scfg.model} ({scfg.device}/{scfg.compute_type}, "
                                          f"language {stt.language or 'detected'}, {stt.cpu_threads or 'default'} threads) "
                                          f"loaded in {time.perf_counter() - t0:.1f}s")]
    except (ModelNotFound, ConfigError) as exc:
        return checks + [Check("stt", FAIL, exc.message, fix=exc.hint or "")]
    except Exception as exc:
        return checks + [Check("stt", FAIL, f"{type(exc).__name__}: {exc}", fix="Check the stt section of penny_config.json.")]
