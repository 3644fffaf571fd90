"""wake: `detect` + a stream of audio -> `detection` (as soon as it is heard) or, at audio-stop, `not-detected`.

Two kinds of engine, as in Penny's own loop: an acoustic model (Penny's hey_penny, openWakeWord's) scores
the raw audio every 80 ms; the phrase engine ("Hey Penny") needs words, so Penny's VAD cuts the stream into utterances and each
one is transcribed (primed with the phrase) and matched.
"""
from __future__ import annotations

import logging

import numpy as np
from wyoming.wake import Detect, Detection, NotDetected

from penny.core.events import AudioChunk, SpeechEnded
from penny.core.pcm import RATE

log = logging.getLogger(__name__)


def _key(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


class WakeListener:
    """One `detect` request. `names`: the models asked for (None: the configured engine)."""

    def __init__(self, engines, request: Detect):
        from penny.adapters.wake.factory import acoustic_wake, engine_name, model_name
        from penny.adapters.wake.onnx_wake import BUILTIN
        from penny.adapters.wake.phrase import PhraseWake

        self.engines = engines
        self.context = request.context
        cfg = engines.cfg.wake
        phrases = {_key(p): p for p in cfg.phrases if p.strip()}
        wanted = [_key(n) for n in request.names or []]
        acoustic = engine_name(cfg.engine) != "phrase"  # then "hey_penny" names Penny's acoustic model
        if not wanted:
            wanted = [_key(model_name(cfg))] if acoustic else list(phrases)
        self.detectors = []  # acoustic models (hey_penny, openWakeWord's), streaming
        words = [n for n in wanted if n in phrases and not (acoustic and n in BUILTIN)]
        chosen = [phrases[n] for n in words]
        for name in (n for n in wanted if n not in words):
            self.detectors.append(acoustic_wake(name, cfg.threshold))  # ModelNotFound: refused
        self.phrase = PhraseWake(chosen, stt=engines.stt) if chosen else None
        self.endpointer = engines.new_endpointer() if self.phrase is not None else None
        self.t = 0.0  # seconds of audio heard
        self.detected = False
        log.info("wyoming wake: listening for %s", ", ".join(wanted))

    async def feed(self, samples: np.ndarray) -> list:
        """New 16 kHz audio -> Detection events (usually none)."""
        out = []
        for det in self.detectors:
            hit = det.process(samples, self.t)
            if hit is not None:
                out.append(self._detection(hit.name, hit.t))
        if self.endpointer is not None and samples.size:
            for ev in self.endpointer.process(AudioChunk(samples, RATE)):
                if isinstance(ev, SpeechEnded):
                    out += await self._utterance(ev)
        self.t += len(samples) / RATE
        return out

    async def finish(self) -> list:
        """audio-stop: the last utterance, then not-detected when nothing was."""
        out = []
        if self.endpointer is not None:
            for ev in self.endpointer.flush():
                if isinstance(ev, SpeechEnded):
                    out += await self._utterance(ev)
        if not self.detected and not out:
            out.append(NotDetected(context=self.context).event())
        for det in self.detectors:
            det.close()
        return out

    async def _utterance(self, ev: SpeechEnded) -> list:
        hit = await self.phrase.detect(ev.audio, t=ev.t)
        if hit is None:
            return []
        return [self._detection(hit.name.replace(" ", "_"), hit.t)]

    def _detection(self, name: str, t: float):
        self.detected = True
        log.info("wyoming wake: %s at %.2f s", name, t)
        return Detection(name=name, timestamp=int(t * 1000), context=self.context).event()
