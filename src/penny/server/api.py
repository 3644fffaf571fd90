"""The HTTP API: chat (SSE), transcribe, speak, health, models, history, metrics."""
from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import tempfile
import time
import uuid
import wave
from typing import Optional

import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from penny.core import events as ev
from penny.errors import AudioInputError, PennyError
from penny.server.auth import bearer

log = logging.getLogger(__name__)
SESSION_ID = r"^[A-Za-z0-9_.-]{1,64}$"
HEALTH_TTL_S = 20.0  # the doctor loads models: do not rerun it for every poll
MAX_TRANSCRIBE_S = 120.0  # longest upload /api/transcribe decodes
STT_WAIT_S = 10.0  # how long an upload waits for the one STT slot before 503 busy


def _state(request: Request):
    return request.app.state.penny


async def check_access(request: Request) -> None:
    """Host, Origin (for state-changing calls) and token checks for every API call."""
    g = _state(request).guard
    h = request.headers
    if not g.host_ok(h.get("host")):
        raise _Denied(403, "host-not-allowed", "This Host header is not allowed (bind address is loopback).")
    if request.method not in ("GET", "HEAD", "OPTIONS") and not g.origin_ok(h.get("origin"), h.get("host")):
        raise _Denied(403, "origin-not-allowed", "Cross-origin requests are not allowed "
                                                 "(add the origin to server.allowed_origins).")
    presented = bearer(h.get("authorization")) or h.get("x-penny-token")
    if not g.token_ok(presented):
        raise _Denied(401, "unauthorized", "Missing or wrong access token: send 'Authorization: Bearer <token>' "
                                           "(the token is in the file printed by `penny serve`).")


class _Denied(PennyError):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code = status, code


router = APIRouter(prefix="/api", dependencies=[Depends(check_access)])


def _err(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


# ---- chat ----
class ChatIn(BaseModel):
    text: str = Field(..., min_length=1, max_length=4000, description="What the user says.")
    session_id: Optional[str] = Field(None, pattern=SESSION_ID, description="Continue this conversation.")
    stream: bool = Field(True, description="false: one JSON answer instead of server-sent events.")


def _sse(event: str, data: dict) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


@router.post("/chat", tags=["conversation"], summary="Text in, reply streamed as server-sent events",
             responses={200: {"content": {"text/event-stream": {}},
                              "description": "Events: `start`, `delta` {text}, `backend`, `done` {text}, `error`."}})
async def chat(body: ChatIn, request: Request):
    state = _state(request)
    sid = body.session_id or "http-" + uuid.uuid4().hex[:10]
    text = body.text.strip()
    if not text:
        return _err(422, "empty-text", "text is blank.")
    replies = state.engines.assistant.reply(sid, text)
    if not body.stream:
        parts, turn_id = [], None
        async for e in replies:
            if isinstance(e, ev.ReplyDelta):
                parts.append(e.text)
                turn_id = e.turn_id
            elif isinstance(e, ev.ReplyDone):
                turn_id = e.turn_id
        state.metrics.turns.labels("chat", "false").inc()
        return {"session_id": sid, "turn_id": turn_id, "text": "".join(parts).strip()}

    async def stream():
        yield _sse("start", {"session_id": sid})
        try:
            async for e in replies:
                if isinstance(e, ev.ReplyDelta):
                    yield _sse("delta", {"turn_id": e.turn_id, "text": e.text})
                elif isinstance(e, ev.BackendSwitched):
                    state.metrics.backend_failures.labels(e.frm).inc()
                    if isinstance(e, ev.BackendFailed) and not e.recoverable:
                        yield _sse("error", {"code": "llm-backend-failed", "backend": e.frm, "recoverable": False,
                                             "message": f"The LLM backend '{e.frm}' failed ({e.reason})."})
                    else:
                        yield _sse("backend", {"from": e.frm, "to": e.to, "reason": e.reason,
                                               "restarted": e.frm == e.to})
                elif isinstance(e, ev.ReplyDone):
                    state.metrics.turns.labels("chat", str(e.interrupted).lower()).inc()
                    yield _sse("done", {"session_id": sid, "turn_id": e.turn_id, "text": e.text})
        except PennyError as exc:
            state.metrics.errors.labels(exc.code).inc()
            yield _sse("error", {"code": exc.code, "message": str(exc)})

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


# ---- audio ----
_UPLOAD_DOC = {"requestBody": {"content": {
    "multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "string",
                                                                                 "format": "binary"}}}},
    "audio/wav": {"schema": {"type": "string", "format": "binary"}}}}}


@router.post("/transcribe", tags=["audio"], summary="Audio file (WAV/FLAC/OGG) in, text out",
             openapi_extra=_UPLOAD_DOC)
async def transcribe(request: Request):
    state = _state(request)
    ctype = request.headers.get("content-type", "")
    suffix = ".wav"
    if ctype.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=4)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            return _err(400, "audio-invalid", "Send the audio as a form file field named 'file'.")
        data = await upload.read()
        ext = os.path.splitext(upload.filename or "")[1].lower()
        suffix = ext if re.fullmatch(r"\.[a-z0-9]{1,5}", ext or "") else suffix
    else:
        data = await request.body()
    if not data:
        return _err(400, "audio-invalid", "The upload is empty: send a WAV, FLAC or OGG file.")
    chunk = await asyncio.to_thread(_decode, data, suffix)
    if chunk.duration_s > MAX_TRANSCRIBE_S:
        return _err(413, "audio-too-long", f"The audio is {chunk.duration_s:.0f} s long; /api/transcribe takes "
                                           f"up to {MAX_TRANSCRIBE_S:g} s.")
    t0 = time.perf_counter()
    transcript = await _bounded_stt(state, chunk)
    if transcript is None:
        return JSONResponse({"error": {"code": "busy", "message": "Another upload is being transcribed; "
                                                                  "try again in a few seconds."}},
                            status_code=503, headers={"Retry-After": "5"})
    return {"text": transcript.text.strip(), "language": transcript.language,
            "duration_s": round(chunk.duration_s, 3),
            "processing_s": round(transcript.processing_s or time.perf_counter() - t0, 3),
            "segments": [{"start": s.start, "end": s.end, "text": s.text} for s in transcript.segments]}


async def _bounded_stt(state, chunk: ev.AudioChunk):
    """Transcribe with one of the server's STT slots (one upload at a time), or None when none frees up
    within STT_WAIT_S. The slot is held until the decode ends, even if the client goes away."""
    try:
        await asyncio.wait_for(state.stt_slot.acquire(), STT_WAIT_S)
    except asyncio.TimeoutError:
        return None
    try:
        task = asyncio.ensure_future(state.engines.stt.transcribe(chunk))
    except BaseException:
        state.stt_slot.release()
        raise
    task.add_done_callback(lambda _: state.stt_slot.release())
    return await asyncio.shield(task)


def _decode(data: bytes, suffix: str) -> ev.AudioChunk:
    from penny.adapters.audio.wavfile import read_audio

    fd, path = tempfile.mkstemp(prefix="penny-upload-", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            return read_audio(path)
        except AudioInputError as exc:  # the message names our temp file; name the upload instead
            raise AudioInputError(str(exc.message).replace(path, "The upload"), hint=exc.hint) from None
    finally:
        os.unlink(path)


class SpeakIn(BaseModel):
    text: str = Field(..., min_length=1, max_length=2000)


def _wav(chunks: list[ev.AudioChunk], rate: int) -> bytes:
    pcm = np.concatenate([c.as_int16() for c in chunks]) if chunks else np.zeros(0, np.int16)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype("<i2").tobytes())
    return buf.getvalue()


@router.post("/speak", tags=["audio"], summary="Text in, WAV out (the configured voice)",
             response_class=Response, responses={200: {"content": {"audio/wav": {}}}})
async def speak(body: SpeakIn, request: Request):
    tts = _state(request).engines.tts
    if not body.text.strip():
        return _err(422, "empty-text", "text is blank.")
    chunks = [c async for c in tts.synthesize(body.text.strip())]
    if not chunks:
        return _err(502, "tts-failed", "The voice produced no audio for this text.")
    rate = chunks[0].sample_rate
    return Response(_wav(chunks, rate), media_type="audio/wav",
                    headers={"X-Penny-Voice": str(getattr(tts, "voice", "") or getattr(tts, "name", ""))})


# ---- status ----
@router.get("/health", tags=["ops"], summary="Component status (the checks of `penny doctor`)")
async def health(request: Request):
    from penny.doctor import COMPONENT_MODULES, healthy, run_checks

    state = _state(request)
    async with state.health_lock:  # concurrent polls share one run
        cached = state.health_cache
        if cached is None or time.monotonic() - cached[0] > HEALTH_TTL_S:
            checks = await run_checks(state.cfg, only=set(COMPONENT_MODULES) - set(LOADED) - {"turn"})
            checks[1:1] = [_loaded_check(name, getattr(state.engines, name, None)) for name in LOADED]
            checks += await asyncio.to_thread(_turn_checks, state)
            ok = healthy(checks)
            body = {"healthy": ok, "checks": [c.to_dict() for c in checks], "llm": state.llm_status(),
                    "voice": {"engine": getattr(state.engines.tts, "name", None),
                              "voice": getattr(state.engines.tts, "voice", None)}}
            state.health_cache = cached = (time.monotonic(), body, 200 if ok else 503)
    _, body, status = cached
    body = {**body, "sessions": len(state.active_sessions)}
    return JSONResponse(body, status_code=status)


@router.get("/satellites", tags=["ops"], summary="The Wyoming satellites Penny drives, and what each is doing")
async def satellites(request: Request):
    """state: connecting, connected (waiting for its wake word), listening, speaking, reconnecting, stopped."""
    sats = _state(request).satellites
    return {"satellites": sats.status() if sats is not None else []}


LOADED = ("stt", "tts")  # health reports these from the engines this server loaded, not a second copy


def _turn_checks(state) -> list:
    from penny.adapters.turn.factory import doctor_checks

    model = getattr(state.engines, "turn_end_model", None)  # built once per process (app/engines.py)
    return doctor_checks(state.cfg, loaded=model)


def _loaded_check(name: str, engine):
    from penny.health import FAIL, OK, Check

    if engine is None:
        return Check(name, FAIL, "not loaded")
    model = getattr(engine, "model_name", None) or getattr(engine, "voice", None)
    label = " ".join(str(p) for p in (getattr(engine, "name", type(engine).__name__), model) if p)
    return Check(name, OK, f"{label}: loaded and serving")


@router.get("/history", tags=["conversation"], summary="Conversations, or the turns of one")
async def history(request: Request, session_id: Optional[str] = Query(None, pattern=SESSION_ID),
                  limit: int = Query(50, ge=1, le=1000)):
    memory = _state(request).engines.memory
    if session_id is None:
        sessions = await asyncio.to_thread(memory.list_sessions)
        return {"sessions": jsonable_encoder(list(sessions)[:limit])}
    turns = await asyncio.to_thread(memory.turns, session_id)
    turns = [t.to_dict() if hasattr(t, "to_dict") else t for t in list(turns)[-limit:]]
    return {"session_id": session_id, "turns": jsonable_encoder(turns)}


async def metrics_endpoint(request: Request, _: None = Depends(check_access)):
    m = _state(request).metrics
    return Response(m.render(), media_type=m.content_type)
