"""The spoken corpus of the turn-taking benchmark (`penny bench --turns`): requests said the way people
say them, with hesitations, lists and slow numbers, follow-ups, "stop" over a long reply, barge-in and
Penny's own voice coming back through the room. Every clip knows its true speech segments, so the true
end of the user's speech is exact: each piece is synthesized alone, trimmed to its voiced part and
joined with pauses of known length (digital zero here; the runner lays a noise floor over the whole
stream). Pieces are cached as WAV by content hash under benchmarks/.cache/turns/.
Limitation: a piece spoken alone may sound more finished than a real mid-sentence pause; a piece that
goes on ends in "," so the voice keeps a continuing tone where it can.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile

from benchmarks import accuracy_corpus as acc

SR = 16000
LEAD_S = 0.5
CACHE_DIR = acc.CACHE_DIR.parent / "turns"
VERSION = 1  # bump when rendering changes
# Piper (the default and a slow talker) and an espeak-ng voice; names as in accuracy_requests where shared.
VOICES = {"piper-joe": acc.Voice("piper-joe", "piper", {}),
          "piper-joe-slow": acc.Voice("piper-joe-slow", "piper", {"length_scale": 1.25}),
          "espeak-us": acc.Voice("espeak-us", "espeak", {"voice": "en-us", "speed": 160, "pitch": 50})}
CATEGORIES = ("fluent", "hesitation", "list", "slow_number", "follow_up", "stop", "barge_in", "echo")
_TODAY, _TOMORROW = ["dentist", "budget"], ["standup", "priya", "piano"]

# id, category, pieces (str: speech, int: pause in ms), task, expect, then (what the user says next), then_task,
# then_expect. Tasks are accuracy_scoring's, plus "list_add" and "stop". "then" is said: after Penny's reply
# (follow_up), or THEN_AFTER_S into Penny's reply (stop, barge_in). Quick clips are marked with *.
P = tuple
ASKS_SPEC: tuple = (
    ("fluent-time*", "fluent", P(["Hey Penny, what time is it?"]), "time", {}),
    ("fluent-timer", "fluent", P(["Hey Penny, set a timer for ten minutes."]), "timer_set", {"seconds": 600}),
    ("fluent-calendar", "fluent", P(["Hey Penny, what's on my calendar tomorrow?"]), "calendar_read",
     {"titles": _TOMORROW}),
    ("fluent-note", "fluent", P(["Hey Penny, take a note: I parked on level three."]), "note_add",
     {"text_words": ["parked", "level", "three"]}),
    ("fluent-open-france*", "fluent", P(["Hey Penny, what's the capital of France?"]), "open", {"any": ["paris"]}),
    ("fluent-open-spider", "fluent", P(["Hey Penny, how many legs does a spider have?"]), "open",
     {"any": ["eight", "8"]}),
    ("hes-timer-um*", "hesitation", P(["Hey Penny, set a timer for", 700, "um", 600, "twelve minutes."]),
     "timer_set", {"seconds": 720}),
    ("hes-list-and", "hesitation", P(["Hey Penny, add milk and", 900, "eggs to my shopping list."]), "list_add",
     {"items": ["milk", "eggs"]}),
    ("hes-calendar*", "hesitation", P(["Hey Penny, what's on my calendar", 800, "tomorrow?"]), "calendar_read",
     {"titles": _TOMORROW}),
    ("hes-note-uh", "hesitation", P(["Hey Penny, take a note:", 500, "uh", 700, "the bike lock is in the garage."]),
     "note_add", {"text_words": ["bike", "lock", "garage"]}),
    ("hes-open-long", "hesitation", P(["Hey Penny, what's the", 1200, "capital of Spain?"]), "open",
     {"any": ["madrid"]}),
    ("hes-timer-short", "hesitation", P(["Hey Penny, set a timer for", 300, "fifteen minutes."]), "timer_set",
     {"seconds": 900}),
    ("list-shopping*", "list", P(["Hey Penny, add eggs,", 600, "milk,", 450, "and bread to my shopping list."]),
     "list_add", {"items": ["eggs", "milk", "bread"]}),
    ("list-note", "list", P(["Hey Penny, take a note: buy batteries,", 800, "light bulbs,", 600, "and tape."]),
     "note_add", {"text_words": ["batteries", "bulbs", "tape"]}),
    ("num-25*", "slow_number", P(["Hey Penny, set a timer for twenty", 700, "five minutes."]), "timer_set",
     {"seconds": 1500}),
    ("num-90", "slow_number", P(["Hey Penny, set a timer for ninety", 500, "seconds."]), "timer_set", {"seconds": 90}),
    ("num-remind", "slow_number", P(["Hey Penny, remind me to call mom in forty", 1000, "five minutes."]), "reminder",
     {"text_words": ["call", "mom"], "seconds": 2700}),
    ("fu-weather*", "follow_up", P(["Hey Penny, set a timer for ten minutes."]), "timer_set", {"seconds": 600},
     P(["What's the weather like today?"]), "weather", {}),
    ("fu-date", "follow_up", P(["Hey Penny, what time is it?"]), "time", {},
     P(["And what's the date", 600, "today?"]), "date", {}),
    ("stop-story*", "stop", P(["Hey Penny, tell me a long story about a dragon who learns to bake bread."]),
     "open", {"any": ["dragon"]}, P(["Stop."]), "stop", {}),
    ("stop-nevermind", "stop", P(["Hey Penny, tell me about the history of Rome."]), "open", {"any": ["rome"]},
     P(["Never mind."]), "stop", {}),
    ("barge-time*", "barge_in", P(["Hey Penny, tell me about the planets of the solar system."]), "open",
     {"any": ["sun", "planet"]}, P(["Hey Penny, what time is it?"]), "time", {}),
    ("barge-timer", "barge_in", P(["Hey Penny, what's on my calendar tomorrow?"]), "calendar_read",
     {"titles": _TOMORROW}, P(["Hey Penny, set a timer for five minutes."]), "timer_set", {"seconds": 300}),
    ("echo-story*", "echo", P(["Hey Penny, tell me a story about a lighthouse keeper."]), "open",
     {"any": ["lighthouse"]}),
    ("echo-calendar", "echo", P(["Hey Penny, what's on my calendar tomorrow?"]), "calendar_read",
     {"titles": _TOMORROW}),
    ("echo-sky", "echo", P(["Hey Penny, why is the sky blue?"]), "open", {"any": ["scatter", "light"]}),
)
SKILL_TASKS = {"time", "date", "calendar_read", "timer_set", "note_add", "list_add", "reminder", "weather"}


@dataclass(frozen=True)
class TurnAsk:
    id: str
    category: str
    pieces: tuple  # str: speech, int: pause (ms)
    task: str
    expect: dict
    then: tuple = ()
    then_task: str = ""
    then_expect: dict = field(default_factory=dict)
    quick: bool = False

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def kind(self) -> str:
        """What answers it: "skill" or "llm" (an open question)."""
        return "skill" if self.task in SKILL_TASKS else "llm"

    def as_ask(self, then: bool = False) -> acc.Ask:
        """The accuracy benchmark's Ask, for its checks (words without the wake phrase)."""
        pieces, task, expect = (self.then, self.then_task, self.then_expect) if then else \
            (self.pieces, self.task, self.expect)
        text = " ".join(p for p in pieces if isinstance(p, str)).replace("Hey Penny, ", "")
        return acc.Ask(self.id + (".then" if then else ""), text, task, expect)


@dataclass
class TurnClip:
    ask: TurnAsk
    voice: str
    audio: np.ndarray  # LEAD_S of zeros + the pieces and pauses; no tail (the runner keeps feeding)
    segments: list[tuple[float, float]]  # each speech piece (s), in `audio`
    then_audio: np.ndarray | None = None  # starts with its first voiced sample
    then_segments: list[tuple[float, float]] = field(default_factory=list)

    @property
    def true_end_s(self) -> float:
        return self.segments[-1][1]


def _asks() -> tuple[TurnAsk, ...]:
    out = []
    for row in ASKS_SPEC:
        aid, cat, pieces, task, expect, *rest = row
        then, then_task, then_expect = (*rest, (), "", {})[:3]
        out.append(TurnAsk(aid.rstrip("*"), cat, pieces, task, expect, then, then_task, then_expect,
                           aid.endswith("*")))
    return tuple(out)


ASKS = _asks()


def piece_audio(voice: acc.Voice, text: str, cache_dir: Path = CACHE_DIR) -> np.ndarray:
    """One piece in one voice: trimmed to its voiced part, scaled to accuracy_corpus.PEAK (cached)."""
    key = json.dumps([VERSION, acc.PEAK, voice.name, voice.kind, voice.params, text], sort_keys=True)
    path = cache_dir / f"{voice.name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.wav"
    if path.is_file():
        return soundfile.read(str(path), dtype="float32")[0]
    speech = acc.prepare_speech(acc.synthesize(voice, text))
    cache_dir.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), speech, SR, subtype="FLOAT")
    return speech


def assemble(pieces: tuple, say, lead_s: float = 0.0) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Pieces joined with exact pauses: (audio, segments). `say(text)` gives one piece's trimmed audio; a
    piece followed by a pause is said ending in "," (a continuing tone)."""
    lead = round(lead_s * SR)
    parts, segments, n = [np.zeros(lead, np.float32)], [], lead
    for i, piece in enumerate(pieces):
        if isinstance(piece, int):
            parts.append(np.zeros(int(piece * SR / 1000), np.float32))
        else:
            goes_on = i + 1 < len(pieces) and piece[-1] not in ",.?!:"
            audio = say(piece + ("," if goes_on else ""))
            parts.append(audio)
            segments.append((n / SR, (n + len(audio)) / SR))
        n += len(parts[-1])
    return np.concatenate(parts).astype(np.float32), segments


def voices_for(i: int, quick: bool) -> list[str]:
    """Every ask in its voice (rotating); the full run says each in a second voice too."""
    names = list(VOICES)
    return [names[i % len(names)]] if quick else [names[i % len(names)], names[(i + 1) % len(names)]]


def build_clips(quick: bool = False, cache_dir: Path = CACHE_DIR) -> list[TurnClip]:
    clips = []
    for i, ask in enumerate(ASKS):
        if quick and not ask.quick:
            continue
        for name in voices_for(i, quick):
            say = lambda text, v=VOICES[name]: piece_audio(v, text, cache_dir)
            audio, segments = assemble(ask.pieces, say, LEAD_S)
            clip = TurnClip(ask, name, audio, segments)
            if ask.then:
                clip.then_audio, clip.then_segments = assemble(ask.then, say)
            clips.append(clip)
    return clips


def main() -> int:
    import time
    from collections import Counter

    t0 = time.perf_counter()
    clips = build_clips()
    audio_s = sum(len(c.audio) + (0 if c.then_audio is None else len(c.then_audio)) for c in clips) / SR
    print(", ".join(f"{k} {v}" for k, v in Counter(c.ask.category for c in clips).items()))
    print(f"{len(clips)} clips, {audio_s:.0f} s of speech, built in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
