"""The browser protocol: JSON events plus binary audio frames with a 12-byte header.

Text frames carry one JSON object `{"type": "<name>", ...fields}`. Binary frames carry audio:

    offset size  field
    0      1     kind         1 = microphone audio (client -> server), 2 = reply audio (server -> client)
    1      1     version      PROTOCOL_VERSION
    2      2     reserved     0 (uint16, little-endian)
    4      4     sample_rate  Hz (uint32 LE)
    8      4     stream       client: frame sequence number; server: reply audio stream id (uint32 LE)
    12     ...   samples      mono PCM, signed 16-bit little-endian

See docs/protocol.md for every event.
"""
from __future__ import annotations

import dataclasses
import json
import re
import struct
from dataclasses import dataclass

import numpy as np

from penny.core import events as ev
from penny.core.pcm import RATE, to_float, to_int16
from penny.errors import ProtocolError

PROTOCOL_VERSION = 1
HEADER = struct.Struct("<BBHII")
HEADER_BYTES = HEADER.size  # 12
KIND_MIC = 1
KIND_REPLY = 2
IN_RATE = RATE  # clients may send 8-48 kHz; to_chunk brings it to this
MIN_RATE, MAX_RATE = 8000, 48000
MODES = ("wake_word", "always_listening", "push_to_talk")

# Messages a client may send, and the fields each one needs.
CLIENT_TYPES = {"hello", "start", "stop", "text", "interrupt", "mode", "ping"}


@dataclass(frozen=True)
class AudioFrame:
    kind: int
    sample_rate: int
    stream: int
    pcm: np.ndarray  # int16


def pack_audio(kind: int, sample_rate: int, stream: int, pcm: np.ndarray) -> bytes:
    pcm = to_int16(np.asarray(pcm))
    return HEADER.pack(kind, PROTOCOL_VERSION, 0, sample_rate, stream & 0xFFFFFFFF) + pcm.astype("<i2").tobytes()


def unpack_audio(data: bytes) -> AudioFrame:
    if len(data) < HEADER_BYTES:
        raise ProtocolError(f"Binary frame of {len(data)} bytes is shorter than the {HEADER_BYTES}-byte header.")
    kind, version, _reserved, rate, stream = HEADER.unpack_from(data)
    if version != PROTOCOL_VERSION:
        raise ProtocolError(f"Audio frame has protocol version {version}; this server speaks {PROTOCOL_VERSION}.")
    if kind != KIND_MIC:
        raise ProtocolError(f"Audio frame kind {kind} is not microphone audio ({KIND_MIC}).")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise ProtocolError(f"Audio sample rate {rate} Hz is outside {MIN_RATE}-{MAX_RATE} Hz.")
    body = memoryview(data)[HEADER_BYTES:]
    if len(body) % 2:
        raise ProtocolError("Audio payload has an odd number of bytes; expected 16-bit samples.")
    return AudioFrame(kind, rate, stream, np.frombuffer(body, dtype="<i2").astype(np.int16))


def to_chunk(frame: AudioFrame) -> ev.AudioChunk:
    """Microphone frame -> 16 kHz mono float32, resampling linearly when the client sent another rate."""
    x = to_float(frame.pcm)
    if frame.sample_rate != IN_RATE and len(x):
        n = max(1, int(round(len(x) * IN_RATE / frame.sample_rate)))
        x = np.interp(np.linspace(0, len(x) - 1, n), np.arange(len(x)), x).astype(np.float32)
    return ev.AudioChunk(x, IN_RATE)


def parse_message(text: str) -> dict:
    try:
        msg = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ProtocolError(f"Not valid JSON: {exc}.") from None
    if not isinstance(msg, dict):
        raise ProtocolError("A message must be a JSON object with a \"type\" field.")
    kind = msg.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("A message needs a string \"type\" field.")
    if kind not in CLIENT_TYPES:
        raise ProtocolError(f"Unknown message type {kind!r}; known: {', '.join(sorted(CLIENT_TYPES))}.")
    if kind == "text" and not (isinstance(msg.get("text"), str) and msg["text"].strip()):
        raise ProtocolError("\"text\" needs a non-empty string field \"text\".")
    if kind in ("mode",) and msg.get("mode") not in MODES:
        raise ProtocolError(f"\"mode\" must be one of {', '.join(MODES)}.")
    if kind == "hello":
        version = msg.get("protocol", PROTOCOL_VERSION)
        if not isinstance(version, int):
            raise ProtocolError("\"hello\".protocol must be an integer.")
        if msg.get("mode") is not None and msg["mode"] not in MODES:
            raise ProtocolError(f"\"hello\".mode must be one of {', '.join(MODES)}.")
        sid = msg.get("session_id")
        if sid is not None and not (isinstance(sid, str) and re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", sid)):
            raise ProtocolError("\"hello\".session_id must be 1-64 letters, digits, '_', '-' or '.'.")
    return msg


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _plain(value):
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value if not isinstance(v, (np.ndarray, ev.AudioChunk))]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if not isinstance(getattr(value, f.name), (np.ndarray, ev.AudioChunk))}
    return str(value)


def event_message(event) -> dict | None:
    """A pipeline event as a JSON message (ReplyAudio is handled by the caller: it travels binary)."""
    if isinstance(event, ev.SpeechStarted):
        return {"type": "speech.start", "t": event.t}
    if isinstance(event, ev.SpeechEnded):
        return {"type": "speech.end", "t": event.t, "duration_s": round(event.audio.duration_s, 3)}
    if isinstance(event, ev.SilenceStarted):
        return None
    if isinstance(event, ev.WakeDetected):
        return {"type": "wake", "name": event.name, "score": event.score, "command": event.command}
    if isinstance(event, ev.Listening):
        return {"type": "listening", "open": event.open, "reason": event.reason, "t": event.t,
                "wake_word": event.wake_word}
    if isinstance(event, ev.Transcript):
        return {"type": "transcript", "text": event.text, "language": event.language,
                "audio_s": event.audio_s, "processing_s": event.processing_s}
    if isinstance(event, ev.ReplyStarted):
        return {"type": "reply.start", "turn_id": event.turn_id, "user_text": event.user_text}
    if isinstance(event, ev.ReplyDelta):
        return {"type": "reply.delta", "turn_id": event.turn_id, "text": event.text}
    if isinstance(event, ev.ReplyDone):
        return {"type": "reply.done", "turn_id": event.turn_id, "text": event.text,
                "interrupted": event.interrupted}
    if isinstance(event, ev.Interrupted):
        return {"type": "interrupted", "turn_id": event.turn_id}
    if isinstance(event, ev.TurnTrace):
        return {"type": "turn.trace", **event.to_dict()}
    if isinstance(event, ev.StageEvent):  # t: the server's monotonic clock (comparable on its own machine only)
        return {"type": "stage", "turn_id": event.turn_id, "stage": event.stage, "phase": event.phase,
                "t": round(event.t, 6)}
    if isinstance(event, ev.Alert):
        return {"type": "alert", "kind": event.kind, "text": event.text, "id": event.id}
    if isinstance(event, ev.BackendFailed) and not event.recoverable:  # no backend could finish the answer
        return {"type": "error", "code": "llm-backend-failed", "fatal": False, "recoverable": False,
                "backend": event.frm, "message": f"The LLM backend '{event.frm}' failed ({event.reason}) "
                                                 "and no other backend could answer."}
    if isinstance(event, ev.BackendSwitched):  # also a BackendFailed that goes on (restarted: from == to)
        return {"type": "backend.switched", "from": event.frm, "to": event.to, "reason": event.reason,
                "restarted": event.frm == event.to, "recoverable": True}
    if isinstance(event, ev.ErrorEvent):
        return {"type": "error", "code": event.code, "message": event.message}
    if dataclasses.is_dataclass(event) and not isinstance(event, type):
        # Forward compatible: an event kind this module does not know yet still reaches the page.
        return {"type": _snake(type(event).__name__).replace("_", "."), **_plain(event)}
    return None


def error_message(code: str, message: str, *, fatal: bool = False) -> dict:
    return {"type": "error", "code": code, "message": message, "fatal": fatal}
