"""SpeakerSink: plays chunks on a sound card through a non-blocking sounddevice OutputStream.

The stream's callback pulls from an in-memory queue; `write` only appends, so the event loop never
waits on the device. `stop()` (barge-in) empties the queue, so the next callback block (20 ms by
default) is silence, and aborts the stream, which drops what the device had buffered. `pause()` (voice over
a reply, not yet a barge-in) does the same but keeps the rest: what the device had buffered and not yet
played goes back to the front of the queue, and `resume()` plays on from there.
The output stream is injectable (`stream_factory`) so tests can drive the callback by hand.
With an `echo` canceller attached, the callback also hands it every block it plays, stamped with the
block's DAC time, as the reference the microphone's echo is removed against.
"""
from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Callable

import numpy as np

from penny.core.events import AudioChunk
from penny.core.pcm import EdgeResampler

if TYPE_CHECKING:
    from penny.adapters.audio.echo import EchoCanceller

StreamFactory = Callable[[int, int, Callable], object]  # (samplerate, blocksize, callback) -> stream


class SpeakerSink:
    def __init__(self, device: str | int | None = None, sample_rate: int | None = None, *,
                 blocksize_ms: int = 20, max_queue_s: float = 120.0, stream_factory: StreamFactory | None = None,
                 echo: EchoCanceller | None = None, output_latency_ms: int | None = None):
        self.device_index: int | None = None
        if stream_factory is None:
            from penny.adapters.audio.device import find_device

            info = find_device(device, "output")  # DeviceNotFound, with the list of devices, now
            self.device_index = info.index
            self.device_name = info.name
            sample_rate = sample_rate or int(info.default_samplerate)
        else:
            self.device_name = "injected"
        self.sample_rate = int(sample_rate or 48000)
        self.blocksize = max(1, int(self.sample_rate * blocksize_ms / 1000))
        self.max_queue = int(max_queue_s * self.sample_rate)
        self._factory = stream_factory or self._open_device
        self._lock = threading.Lock()
        self._queue: deque[np.ndarray] = deque()
        self._offset = 0  # read position inside _queue[0]
        self._queued = 0  # samples waiting to be played
        self._stream = None
        self._resampler = EdgeResampler(self.sample_rate)
        self.samples_played = 0
        self.stops = 0
        self.paused = False
        # (DAC time, block) of what the callback handed out lately: pause() puts back what had yet to sound
        self._recent: deque[tuple[float, np.ndarray]] = deque(maxlen=max(4, int(0.5 * self.sample_rate / self.blocksize)))
        self.echo = echo
        self.output_latency_ms = output_latency_ms  # None: the device's own DAC times
        self._echo_rs = None
        if echo is not None:
            from penny.adapters.audio.echo import TimedResampler

            # soxr "QQ" holds nothing back (HQ holds up to 36 ms, which would leave holes in the reference at
            # low output latencies); on speech it is within -65 dB of HQ
            self._echo_rs = TimedResampler(self.sample_rate, quality="QQ")

    # ---- device ----------------------------------------------------------------------------
    def _open_device(self, samplerate: int, blocksize: int, callback: Callable):
        from penny.adapters.audio.device import _sd

        sd = _sd()
        return sd.OutputStream(samplerate=samplerate, blocksize=blocksize, device=self.device_index,
                               channels=1, dtype="float32", latency="low", callback=callback)

    def _ensure_started(self) -> None:
        if self._stream is None:
            self._stream = self._factory(self.sample_rate, self.blocksize, self._callback)
        if not getattr(self._stream, "active", False):
            self._stream.start()

    def _callback(self, outdata, frames, time_info, status) -> None:
        """PortAudio's thread: copy queued audio out, pad with silence. Never blocks for long."""
        out = outdata[:, 0] if outdata.ndim == 2 else outdata
        filled = 0
        dac = self._dac_time(time_info)
        with self._lock:
            while filled < frames and self._queue and not self.paused:
                head = self._queue[0]
                n = min(len(head) - self._offset, frames - filled)
                out[filled:filled + n] = head[self._offset:self._offset + n]
                filled += n
                self._offset += n
                if self._offset >= len(head):
                    self._queue.popleft()
                    self._offset = 0
            self._queued -= filled
            self.samples_played += filled
            if filled:
                self._recent.append((dac, out[:filled].copy()))
        out[filled:] = 0.0
        if self.echo is not None and self._echo_rs is not None:
            ref, t = self._echo_rs.process(out.copy(), dac)
            self.echo.render(ref, t)

    def _dac_time(self, time_info) -> float:
        """When this block's first sample leaves the speaker, on PortAudio's clock (the mic's too)."""
        now = getattr(time_info, "currentTime", 0.0) or time.monotonic()
        if self.output_latency_ms is not None:
            return now + self.output_latency_ms / 1000
        dac = getattr(time_info, "outputBufferDacTime", 0.0)
        return dac if dac > 0 else now + self.latency_s

    @property
    def latency_s(self) -> float:
        """Output latency: configured, else what the stream reports (0 before it opened)."""
        if self.output_latency_ms is not None:
            return self.output_latency_ms / 1000
        latency = getattr(self._stream, "latency", 0.0) if self._stream is not None else 0.0
        return float(latency) if isinstance(latency, (int, float)) else 0.0

    @property
    def echo_cancelled(self) -> bool:
        """True when the microphone hears this speaker through an active echo canceller."""
        return self.echo is not None and self.echo.active and self.echo.converged

    # ---- AudioSink -------------------------------------------------------------------------
    @property
    def queued_s(self) -> float:
        return self._queued / self.sample_rate

    def _enqueue(self, samples: np.ndarray) -> None:
        if not samples.size:
            return
        with self._lock:
            self._queue.append(np.ascontiguousarray(samples, dtype=np.float32))
            self._queued += int(samples.size)
            paused = self.paused
        if not paused:  # resume() starts it
            self._ensure_started()

    async def write(self, chunk: AudioChunk) -> None:
        self._enqueue(self._resampler.process(chunk))
        while self._queued > self.max_queue:  # far ahead of playback: let the device catch up
            await asyncio.sleep(0.05)

    async def drain(self, poll_s: float = 0.01) -> None:
        self._enqueue(self._resampler.flush())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.queued_s + 2.0  # a stalled device must not hang the turn
        while self._queued > 0 and self._stream is not None and getattr(self._stream, "active", False):
            if loop.time() > deadline:
                break
            await asyncio.sleep(poll_s)
        latency = getattr(self._stream, "latency", 0.0) if self._stream is not None else 0.0
        if isinstance(latency, (int, float)) and latency > 0:
            await asyncio.sleep(latency)  # the last block is still in the device's buffer

    async def stop(self) -> None:
        """Silence now: drop the queue (next callback block is zeros) and the device's buffer."""
        with self._lock:
            self._queue.clear()
            self._offset = 0
            self._queued = 0
            self.paused = False
            self._recent.clear()
        self._resampler.reset()
        self.stops += 1
        self._abort()

    async def pause(self) -> None:
        """Silence now, as stop() does, but keep the rest: the samples the device held and had not yet played
        (by their DAC times) go back to the front of the queue."""
        stream = self._stream
        now = getattr(stream, "time", 0.0) if stream is not None else 0.0
        with self._lock:
            if self.paused:
                return
            self.paused = True
            if isinstance(now, (int, float)) and now > 0:
                back = [block[max(0, int((now - t) * self.sample_rate)):] for t, block in self._recent
                        if t + len(block) / self.sample_rate > now]
                unplayed = np.concatenate(back) if back else np.zeros(0, np.float32)
                if self._queue and self._offset:
                    self._queue[0] = self._queue[0][self._offset:]
                    self._offset = 0
                if len(unplayed):
                    self._queue.appendleft(unplayed)
                    self._queued += len(unplayed)
                    self.samples_played -= len(unplayed)
            self._recent.clear()
        self._abort()

    async def resume(self) -> None:
        with self._lock:
            self.paused = False
        if self._queued:
            self._ensure_started()

    def _abort(self) -> None:
        stream = self._stream
        if stream is not None and getattr(stream, "active", False):
            stream.abort()  # PortAudio drops buffered output; write() restarts the stream
            now = getattr(stream, "time", 0.0)
            if self.echo is not None and isinstance(now, (int, float)) and now > 0:
                self.echo.cut(now)  # what the device had buffered never played: not a reference

    async def close(self) -> None:
        await self.stop()
        if self._stream is not None:
            self._stream.close()
            self._stream = None
