"""By default nothing leaves the machine: one start-up call, made first by the CLI and the server app.

`start()` tells the libraries that would phone home to stay quiet (before any of them is imported), and
makes existing user data private (see private.py). Each switch below was found with
`strace -f -e trace=connect,sendto` on `penny run-file` and `penny serve`, not by reading code;
tests/test_privacy.py repeats that check. What Penny itself contacts is only what the config names
(`network_services`, shown by `penny doctor`).
"""
from __future__ import annotations

import os
import sys

# Environment switches, set only where the user has not chosen a value.
QUIET_ENV = {
    # onnxruntime (Piper, Silero VAD, openWakeWord) >= 1.2x official Linux/macOS wheels embed Microsoft's 1DS
    # telemetry SDK, on by default: the first InferenceSession resolves and posts to
    # mobile.events.data.microsoft.com and writes ~/.cache/Microsoft/DeveloperTools/.onnxruntime/onnxruntime.db.
    # Seen under strace: 2 DNS look-ups in `penny run-file`, 4+ in `penny serve`. ORT reads this variable when it
    # initialises, which no API call can undo afterwards (onnxruntime/Privacy.md, "Disabling Telemetry").
    "ORT_DISABLE_TELEMETRY": "1",
    # huggingface_hub (faster-whisper's model lookup, `penny models pull`): no usage pings, ever.
    "HF_HUB_DISABLE_TELEMETRY": "1",
}


def quiet_libraries() -> None:
    """Switch off library telemetry. Call before onnxruntime is imported; safe to call again."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    ort = sys.modules.get("onnxruntime")
    if ort is not None and os.environ.get("ORT_DISABLE_TELEMETRY") == "1":
        try:  # imported too early (a host program): at least stop the non-essential events
            ort.disable_telemetry_events()
        except AttributeError:  # a build without telemetry has no switch for it
            pass


def start(cfg=None, *, files: bool = True) -> None:
    """Quiet the libraries; with `files`, make what an older Penny left readable private (logged once)."""
    quiet_libraries()
    if files:
        from penny.private import tighten_existing

        tighten_existing(cfg)


def network_services(cfg) -> list[tuple[str, str]]:
    """(what, where) for every service off this machine that this config makes Penny contact. [] = none."""
    from urllib.parse import urlsplit

    from penny.server.auth import is_loopback

    def remote(url: str | None) -> bool:
        if not url:
            return False
        host = urlsplit(url if "//" in url else "//" + url).hostname or ""
        return bool(host) and host != "localhost" and not host.endswith(".localhost") and not is_loopback(host)

    out: list[tuple[str, str]] = []
    try:  # the backends the chain will really try (llm.mode local_only never reaches a cloud one)
        from penny.adapters.llm.factory import PROVIDERS, canonical_provider, plan

        for b in plan(cfg):
            provider = PROVIDERS[canonical_provider(b.provider)]
            url = b.base_url or provider.base_url
            if provider.name != "embedded" and remote(url):
                out.append((f"llm ({b.provider})", url))
    except Exception:  # an invalid provider is the llm check's to report; list every URL given
        for b in [cfg.llm, *cfg.llm.fallbacks]:
            if remote(b.base_url):
                out.append((f"llm ({b.provider})", b.base_url))
    cal = cfg.plugins.calendar
    if cal.enabled:
        for src in list(cal.sources) + ([cal.write_to] if cal.write_to else []):
            low = str(src).lower()
            plain = low.split("+", 1)[1] if low.startswith(("caldav+", "ics+")) else low
            if plain.startswith(("http://", "https://", "webcal://", "webcals://")) and remote(plain.replace(
                    "webcal", "http", 1)):
                out.append(("calendar", str(src)))
    w = cfg.plugins.weather
    if w.enabled and w.latitude is not None and w.longitude is not None and remote(w.base_url):
        out.append(("weather", w.base_url))
    tts_engines = [cfg.tts.provider] + list(cfg.tts.fallbacks)
    if any(e.strip().lower() in ("gtts", "google", "google_tts") for e in tts_engines):
        tld = (cfg.tts.voice or "").partition(":")[2] if cfg.tts.provider.lower() == "gtts" else ""
        out.append(("tts (gTTS)", f"https://translate.google.{tld or 'com'}"))
    return list(dict.fromkeys(out))
