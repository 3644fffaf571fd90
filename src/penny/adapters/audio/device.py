"""Sound devices: list them (`penny devices`), find one by name or index, capture the microphone.

sounddevice (PortAudio) is imported lazily: a machine without PortAudio or without any device
still runs Penny through the browser or WAV files.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, AsyncIterator, Callable, Literal

import numpy as np

from penny.core.events import AudioChunk
from penny.adapters.audio.echo import TimedResampler
from penny.core.pcm import RATE
from penny.errors import DeviceNotFound

if TYPE_CHECKING:
    from penny.adapters.audio.echo import EchoCanceller

StreamFactory = Callable[[int, int, Callable], object]  # (samplerate, blocksize, callback) -> stream

log = logging.getLogger(__name__)
Kind = Literal["input", "output"]
STILL_WORKS = "The browser client and WAV files still work without one."


@dataclass(frozen=True)
class DeviceInfo:
    index: int
    name: str
    hostapi: str
    max_input_channels: int
    max_output_channels: int
    default_samplerate: float
    is_default_input: bool = False
    is_default_output: bool = False
    low_output_latency_s: float = 0.0  # what PortAudio reports for latency="low" (SpeakerSink's setting)

    def channels(self, kind: Kind) -> int:
        return self.max_input_channels if kind == "input" else self.max_output_channels


def _sd():
    try:
        import sounddevice
    except OSError as exc:  # PortAudio shared library missing
        raise DeviceNotFound(f"Audio devices are unavailable: PortAudio is not installed ({exc}).",
                             hint="Install it (Debian/Ubuntu: sudo apt install libportaudio2). "
                             + STILL_WORKS) from None
    return sounddevice


def list_devices() -> list[DeviceInfo]:
    """Every device PortAudio sees (empty on a machine with none)."""
    sd = _sd()
    try:
        devices = sd.query_devices()
        apis = sd.query_hostapis()
        default_in, default_out = (sd.default.device[0], sd.default.device[1])
    except sd.PortAudioError as exc:
        log.debug("query_devices failed: %s", exc)
        return []
    out = []
    for i, d in enumerate(devices):
        api = apis[d["hostapi"]]["name"] if 0 <= d["hostapi"] < len(apis) else "?"
        out.append(DeviceInfo(i, d["name"], api, int(d["max_input_channels"]), int(d["max_output_channels"]),
                              float(d["default_samplerate"]), i == default_in, i == default_out,
                              float(d.get("default_low_output_latency", 0.0) or 0.0)))
    return out


def find_device(spec: str | int | None, kind: Kind = "input") -> DeviceInfo:
    """A device by index, exact name or case-insensitive substring; None: the system default."""
    devices = [d for d in list_devices() if d.channels(kind) > 0]
    if not devices:
        raise DeviceNotFound(f"No audio {kind} device found on this machine.",
                             hint=f"Connect one and check `penny devices`. {STILL_WORKS}")
    if isinstance(spec, str) and spec.strip().lstrip("-").isdigit():
        spec = int(spec)
    if spec is None or spec == "":
        chosen = next((d for d in devices if (d.is_default_input if kind == "input" else d.is_default_output)), None)
        return chosen or devices[0]
    if isinstance(spec, int):
        match = [d for d in devices if d.index == spec]
    else:
        match = [d for d in devices if d.name == spec] or [d for d in devices if spec.lower() in d.name.lower()]
    if not match:
        names = "; ".join(f"{d.index}: {d.name}" for d in devices)
        raise DeviceNotFound(f"No audio {kind} device matches {spec!r}. Available {kind} devices: {names}.",
                             hint=f"Set audio.{kind}_device to one of these names or indexes (see `penny devices`).")
    return match[0]


class MicSource:
    """Microphone capture as an AudioSource of 16 kHz mono float32 frames of `frame_ms`.

    Opens at 16 kHz when the device allows it, otherwise at its native rate and resamples. With an `echo`
    canceller, each block is cleaned of what the speaker played before it is queued. The input stream is
    injectable (`stream_factory`, opened at `device_rate`) so tests can drive the callback by hand.
    """

    sample_rate = RATE

    def __init__(self, device: str | int | None = None, frame_ms: int = 32, max_queue_s: float = 10.0, *,
                 echo: EchoCanceller | None = None, stream_factory: StreamFactory | None = None,
                 device_rate: int = RATE):
        if stream_factory is None:
            self.device = find_device(device, "input")  # raises DeviceNotFound now, not mid-stream
        else:
            self.device = DeviceInfo(-1, "injected", "none", 1, 0, float(device_rate))
        self.frame_ms = frame_ms
        self.max_queue = max(1, int(max_queue_s * 1000 / frame_ms))
        self.echo = echo
        self.overflows = 0
        self._factory = stream_factory or self._open_device
        self._stream = None
        self._closed = False

    def _open_rate(self, sd) -> int:
        try:
            sd.check_input_settings(device=self.device.index, channels=1, samplerate=RATE, dtype="float32")
            return RATE
        except Exception:
            return int(self.device.default_samplerate)

    def _open_device(self, rate: int, blocksize: int, callback: Callable):
        return _sd().InputStream(device=self.device.index, channels=1, samplerate=rate, dtype="float32",
                                 blocksize=blocksize, callback=callback)

    async def frames(self) -> AsyncIterator[AudioChunk]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[np.ndarray | None] = asyncio.Queue(self.max_queue)
        rate = int(self.device.default_samplerate) if self.device.index < 0 else self._open_rate(_sd())
        resampler = TimedResampler(rate)

        def put(block: np.ndarray) -> None:
            if queue.full():  # consumer stalled: drop the oldest block, keep latency bounded
                queue.get_nowait()
            queue.put_nowait(block)

        def callback(indata, frames, time_info, status) -> None:
            # PortAudio's thread: resample and cancel the echo here, off the event loop
            if status.input_overflow:
                self.overflows += 1
            block, t = resampler.process(indata[:, 0].copy(), self._adc_time(time_info))
            if self.echo is not None:
                block = self.echo.capture(block, t)
            if block.size:
                with contextlib.suppress(RuntimeError):  # a block after shutdown closed the loop: nobody hears it
                    loop.call_soon_threadsafe(put, block)

        try:
            self._stream = self._factory(rate, int(rate * self.frame_ms / 1000), callback)
            self._stream.start()  # type: ignore[attr-defined]
        except Exception as exc:
            raise DeviceNotFound(f"Cannot open input device {self.device.name!r}: {exc}.",
                                 hint="Check it is connected and not in use (see `penny devices`).") from None
        try:
            while not self._closed:
                block = await queue.get()
                if block is None:
                    break
                yield AudioChunk(block, RATE)
        finally:
            await self.close()

    def _adc_time(self, time_info) -> float:
        """When this block's first sample was captured, on PortAudio's clock (the speaker's too)."""
        adc = getattr(time_info, "inputBufferAdcTime", 0.0)
        if adc > 0:
            return adc
        latency = getattr(self._stream, "latency", 0.0)
        return time.monotonic() - (latency if isinstance(latency, (int, float)) else 0.0)

    async def close(self) -> None:
        self._closed = True
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
                stream.close()
            except Exception as exc:  # closing a vanished device must not crash shutdown
                log.debug("closing input stream: %s", exc)


def doctor_checks(cfg) -> list:
    from penny.health import OK, WARN, Check

    checks = []
    found: dict[str, DeviceInfo] = {}
    for kind, spec in (("input", cfg.audio.input_device), ("output", cfg.audio.output_device)):
        try:
            d = found[kind] = find_device(spec, kind)  # type: ignore[arg-type]
            checks.append(Check(f"audio {kind}", OK, f"{d.index}: {d.name} ({d.hostapi})", required=False))
        except DeviceNotFound as exc:
            checks.append(Check(f"audio {kind}", WARN, f"{exc.message} {STILL_WORKS}",
                                fix=(exc.hint or "").replace(STILL_WORKS, "").strip(), required=False))
    checks.append(echo_check(cfg, found.get("output")))
    return checks


def echo_check(cfg, output: DeviceInfo | None):
    """Whether `penny listen` will cancel Penny's own voice from the microphone, and with what latency."""
    from penny.adapters.audio.echo import available
    from penny.health import OK, WARN, Check

    name = "echo cancellation"
    if not cfg.audio.echo_cancellation:
        return Check(name, WARN, "off (audio.echo_cancellation): Penny may hear itself on the speaker",
                     fix="Set audio.echo_cancellation to true.", required=False)
    if not available():
        return Check(name, WARN, "pywebrtc-audio is not installed: Penny may hear itself on the speaker",
                     fix="pip install pywebrtc-audio", required=False)
    if output is None:
        return Check(name, WARN, "no output device: nothing to cancel (the browser cancels its own echo)",
                     required=False)
    if cfg.audio.output_latency_ms is not None:
        latency = f"{cfg.audio.output_latency_ms} ms (audio.output_latency_ms)"
    else:
        latency = f"{output.low_output_latency_s * 1000:.0f} ms reported by the device, timed per block"
    return Check(name, OK, f"on (WebRTC AEC3 + noise suppression); output latency {latency}", required=False)
