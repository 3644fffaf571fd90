"""The turn-taking benchmark's microphone and speaker: a session fed at real-time pace with the user's audio
over a -60 dBFS pink noise floor, a speaker that plays in real time, and (echo clips) a room that brings what
the speaker plays back into the microphone: penny.testing_room.Room (a direct path, then decaying noise),
streamed frame by frame."""
from __future__ import annotations

import asyncio
import bisect
import time

import numpy as np

from benchmarks import turn_scoring as scoring
from penny.testing_room import Room
from penny.core.events import AudioChunk

SR, FRAME = 16000, 512  # 32 ms frames, as a microphone delivers them
NOISE_DB = -60.0  # the room's noise floor, under everything fed (pauses are never digital zero)
ECHO_DELAY_MS, ECHO_RT60_S = 20.0, 0.4
OUT_BUFFER = 2 * FRAME  # with AEC: the speaker's output buffer (64 ms), so the reference leads the echo


class RoomSink:
    """A speaker in real time. What it plays is laid on the microphone's sample clock, so the room can echo
    it; `cuts` are the moments it was stopped while still playing (what a listener hears as "it stopped")."""

    sample_rate = SR

    def __init__(self, mic: Mic, realtime: bool):
        self.mic, self.realtime = mic, realtime
        self.played = np.zeros(SR * 60, np.float32)
        self._end = 0  # mic sample where the queued audio ends
        self.until = 0.0  # perf_counter time the queued audio ends
        self.cuts: list[float] = []
        self.paused_at: float | None = None  # perf_counter time of a pause (voice over the reply)
        self._held: list[np.ndarray] = []  # what a pause kept, to play on from
        self.resumes: list[tuple[float, float]] = []  # (paused, played on): a pause that was no barge-in

    @property
    def echo_cancelled(self) -> bool:
        """Penny cannot hear itself: no room (a headset) or AEC3 on the mic, so its barge-in guard is off, as
        with the real speaker; a plain speaker in a room keeps it on (a confident voice is needed)."""
        return self.mic.room is None or (self.mic.aec is not None and self.mic.aec.active and self.mic.aec.converged)

    async def write(self, chunk: AudioChunk) -> None:
        from penny.core.pcm import to_16k_mono

        audio = to_16k_mono(chunk.as_float32(), chunk.sample_rate)
        if self.paused_at is not None:
            self._held.append(audio)
            return
        self._lay(audio)

    def _lay(self, audio: np.ndarray) -> None:
        start = max(self.mic.horizon, self._end)
        if start + len(audio) > len(self.played):
            self.played = np.concatenate([self.played, np.zeros(start + len(audio) + SR * 30, np.float32)])
        self.played[start:start + len(audio)] = audio
        self._end = start + len(audio)
        self.until = max(time.perf_counter(), self.until) + len(audio) / SR

    async def drain(self) -> None:
        while self.realtime and self.playing:  # the turn lasts until its reply has played, as with a real speaker
            await asyncio.sleep(max(0.01, self.until - time.perf_counter()))

    async def stop(self) -> None:
        now = time.perf_counter()
        if self.paused_at is not None:
            self.cuts.append(self.paused_at)  # it went quiet at the pause and never played on
        elif self.until > now + 0.02:
            self.cuts.append(now)
        self.paused_at, self._held = None, []
        self._silence_from_now(now)

    async def pause(self) -> None:
        """As SpeakerSink.pause: quiet now, what had yet to sound kept (the output buffer's part too)."""
        now = time.perf_counter()
        self._held = [self.played[self.mic.n:self._end].copy()]
        self.paused_at = now
        self._silence_from_now(now)

    async def resume(self) -> None:
        if self.paused_at is None:
            return
        held, self._held = self._held, []
        self.resumes.append((self.paused_at, time.perf_counter()))
        self.paused_at = None
        for audio in held:
            self._lay(audio)

    def _silence_from_now(self, now: float) -> None:
        self.until = now
        self.played[self.mic.n:self._end] = 0.0
        self._end = self.mic.n
        if self.mic.aec is not None:  # the device dropped what it had buffered: so does the reference
            self.mic.aec.cut(self.mic.n / SR)
            self.mic.rendered = self.mic.n

    @property
    def playing(self) -> bool:
        return self.paused_at is not None or time.perf_counter() < self.until

    async def close(self) -> None:
        pass


class Mic:
    """One session fed like a live microphone: the user's audio + the noise floor (+ the room's echo)."""

    def __init__(self, engines, session_id: str, *, realtime: bool, seed: int, echo_gain_db: float | None = None,
                 aec: bool = False):
        from benchmarks.accuracy_corpus import pink_noise

        self.n = 0  # samples fed
        self.rendered = 0  # with AEC: played samples already handed to the canceller (the output buffer)
        self.aec = None
        if aec:  # the other half of Penny's own speaker path: WebRTC AEC3 on the mic, what was played as reference
            from penny.adapters.audio.echo import EchoCanceller

            self.aec = EchoCanceller()
        self.sink = RoomSink(self, realtime)
        self.session = engines.new_session(session_id, mode="wake_word", sink=self.sink)
        self.noise = pink_noise(SR * 20, seed) * 10 ** (NOISE_DB / 20)
        self.room = Room(delay_ms=ECHO_DELAY_MS, rt60_s=ECHO_RT60_S, gain_db=echo_gain_db, seed=seed) \
            if echo_gain_db is not None else None
        self.events: list[tuple[float, object]] = []  # (perf_counter arrival, event)
        self.wall: list[float] = []  # perf_counter time each fed frame arrived
        self.wall_n: list[int] = []  # the stream sample each of those frames started at (a feed's last may be short)
        self._collector = asyncio.create_task(self._collect())

    async def _collect(self) -> None:
        async for ev in self.session.events():
            self.events.append((time.perf_counter(), ev))

    async def feed(self, audio: np.ndarray | None = None, seconds: float = 0.0, until=None) -> float:
        """Feed `audio` (or `seconds` of the bare room) at real-time pace, stopping early once `until()` holds;
        returns the stream time where it started."""
        audio = np.zeros(int(seconds * SR), np.float32) if audio is None else audio
        loop, t0, start = asyncio.get_running_loop(), self.n / SR, asyncio.get_running_loop().time()
        for i in range(0, len(audio), FRAME):
            if until is not None and until():
                break
            delay = start + (i + FRAME) / SR - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            frame = audio[i:i + FRAME].astype(np.float32)
            k = np.arange(self.n, self.n + len(frame)) % len(self.noise)
            frame = frame + self.noise[k]
            if self.room is not None:
                played = self.sink.played[self.n:self.n + len(frame)]
                self.room.play(played)
                frame = frame + self.room.hear(len(played))
                if self.aec is not None:  # stream time as the clock of both ends (the room's delay is real)
                    ahead = self.n + OUT_BUFFER  # a speaker's callback hands out audio before it sounds
                    if ahead > len(self.sink.played):
                        self.sink.played = np.concatenate([self.sink.played, np.zeros(SR * 30, np.float32)])
                    if ahead > self.rendered:
                        self.aec.render(self.sink.played[self.rendered:ahead].copy(), self.rendered / SR)
                        self.rendered = ahead
                    frame = self.aec.capture(np.clip(frame, -1, 1), self.n / SR)  # whole 10 ms blocks
            self.wall.append(time.perf_counter())
            self.wall_n.append(self.n)
            self.n += len(audio[i:i + FRAME])  # the mic's clock, whatever AEC3 holds back
            if len(frame):
                await self.session.feed(AudioChunk(np.clip(frame, -1, 1), SR))
        return t0

    @property
    def horizon(self) -> int:
        """Where new speaker audio can start: after what the output buffer already holds."""
        return max(self.n, self.rendered)

    def wall_at(self, stream_t: float) -> float:
        """When the sample at stream time t was spoken: its frame arrived when complete, (frame end - t) later.
        Found by sample, not by frame count: every feed's short last frame would shift a count a frame early,
        so times measured late in a long session (the echo soak's barge-ins) came out hundreds of ms long."""
        s = int(stream_t * SR)
        i = max(0, bisect.bisect_right(self.wall_n, s) - 1)
        end = self.wall_n[i + 1] if i + 1 < len(self.wall_n) else self.n
        return self.wall[i] - max(0, end - s) / SR

    def turns(self, since: float = 0.0) -> list[scoring.TurnView]:
        return [t for t in scoring.turns_of(self.events) if t.committed is None or t.committed >= since]

    def answer(self, true_end: float, since: float = 0.0):
        """The turn that answers speech ending at true_end (committed after it), once there is one."""
        return next((t for t in self.turns(since) if t.spoke and not t.early(true_end)), None)

    async def close(self) -> None:
        await self.session.close()
        await self._collector
