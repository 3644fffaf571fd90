"""The model endpoints: list what can answer, and switch the running LLM (safely: see model_use)."""
from __future__ import annotations

import inspect
from typing import Optional

from fastapi import APIRouter, Depends, Request
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, Field

from penny.errors import PennyError
from penny.server.api import _Denied, _err, _state, check_access

router = APIRouter(prefix="/api", dependencies=[Depends(check_access)])


def _extra_ggufs(llm, cfg) -> dict[str, list[str]]:
    """Per embedded backend: the GGUF files in Penny's model folders it could load, so a model switched
    away from can be switched back to by the name listed at first."""
    from penny.model_use import _embedded, gguf_problem, switchable_ggufs

    embedded = _embedded(llm)
    if not embedded:
        return {}
    names = [p.stem for p in switchable_ggufs(cfg) if gguf_problem(p) is None]
    return {b.name: names for b in embedded}


@router.get("/models", tags=["models"], summary="LLM backends, their models, and the active one")
async def models(request: Request):
    state = _state(request)
    llm = state.engines.llm
    try:
        listing = llm.list_models()
        listing = dict(await listing if inspect.isawaitable(listing) else listing)
    except PennyError as exc:
        listing, error = {}, {"code": exc.code, "message": str(exc)}
    else:
        error = None
    for backend, extra in _extra_ggufs(llm, state.cfg).items():
        listing[backend] = list(dict.fromkeys([*listing.get(backend, []), *extra]))
    from penny.catalog import listing as catalogue

    return {"active": state.llm_status(), "models": jsonable_encoder(listing), "error": error,
            "catalogue": catalogue()}


async def require_json(request: Request) -> None:
    """CSRF guard on top of the Origin check: a cross-site page can only send application/json after a
    CORS preflight, which this server never grants (forms and no-cors fetches send other types, or none)."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise _Denied(415, "unsupported-media-type", "Send the body as JSON (Content-Type: application/json).")


class ActiveIn(BaseModel):
    model: str = Field(..., min_length=1, max_length=200,
                       description="A name from `models`, or a pulled LLM from `catalogue`.")
    backend: Optional[str] = Field(None, max_length=100)


@router.post("/models/active", tags=["models"], summary="Switch the LLM model (and optionally backend)",
             dependencies=[Depends(require_json)],
             responses={403: {"description": "a path outside Penny's model folders"},
                        415: {"description": "not sent as application/json"},
                        422: {"description": "not a GGUF model, or an invalid body"},
                        502: {"description": "the model did not load; the previous one is still in use"}})
async def set_active(body: ActiveIn, request: Request):
    """Remote backends take the names they list. The embedded backend takes a catalogue name or the name
    of a GGUF file in Penny's model folders; the file's header is checked and the model started before
    the switch counts, and the previous model stays if it does not start."""
    from penny.model_use import switch_model

    state = _state(request)
    async with state.model_lock:
        try:
            await switch_model(state.engines.llm, body.model.strip(), body.backend, state.cfg)
        except (KeyError, ValueError) as exc:
            return _err(404, "model-not-found", str(exc).strip("'\"") or f"Unknown model {body.model!r}.")
    active = state.llm_status()
    state.health_cache = None
    await state.broadcast({"type": "llm.active", **active})
    return {"active": active}
