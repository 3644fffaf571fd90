"""FallbackLLM: several backends behind one LLM, with a circuit breaker per backend.

A backend that fails (refused, timeout, HTTP 5xx, malformed stream, died mid-stream) is
skipped for `cooldown_s` and the turn goes on with the next one. If text was already
yielded, the next backend is asked to continue the answer rather than start over (a backend with
`prefills` continues the partial answer itself; others are asked to, and their repeats are dropped).
When none can answer, a `BackendFailed(recoverable=False)` tells the client, and the spoken message
names what actually failed in this turn (never a server that was not asked). `LLMServed` says, within the
stream, which backend answers it: `active` is shared by every session and only a hint of the last one.
"""
from __future__ import annotations

import asyncio
import logging
import time
from contextlib import aclosing
from typing import AsyncGenerator

from penny.adapters.llm.base import LLM, Message
from penny.adapters.llm.continuing import OverlapFilter, continuation
from penny.adapters.llm.openai_compat import OpenAICompatLLM
from penny.core.events import BackendFailed, BackendSwitched, LLMEvent, LLMServed, TextDelta
from penny.errors import LLMUnavailable, ModelNotFound, PennyError

log = logging.getLogger(__name__)
DEFAULT_SPOKEN = "I can't reach my language model right now."
LIST_TIMEOUT_S = 2.0  # listing models must never hold up start-up or /api/models (a server may never answer)
_GENERIC = {LLMUnavailable.spoken, PennyError.spoken, DEFAULT_SPOKEN}


class FallbackLLM:
    def __init__(self, backends: list[LLM], *, cooldown_s: float = 30.0, spoken: str = DEFAULT_SPOKEN) -> None:
        if not backends:
            raise ValueError("FallbackLLM needs at least one backend")
        self.backends = list(backends)
        self.cooldown_s = cooldown_s
        self.spoken = spoken
        self._open_until: dict[str, float] = {}  # backend name -> monotonic time its breaker closes
        self._active: LLM | None = None
        self._models: dict[str, list[str]] = {}
        self.last_first_token_s: float | None = None
        self.last_errors: dict[str, str] = {}

    # ---- the LLM protocol ----
    @property
    def active(self) -> LLM:
        """The backend that served the last turn (before any turn: the first one not cooling down)."""
        return self._active or self._candidates()[0]

    @property
    def name(self) -> str:
        return self.active.name

    @property
    def model(self) -> str:
        return self.active.model

    @property
    def supports_tools(self) -> bool:
        return any(b.supports_tools for b in self.backends)

    def backend(self, name: str) -> LLM:
        for b in self.backends:
            if b.name.lower() == name.lower():
                return b
        raise ModelNotFound(f"No LLM backend named '{name}'; the chain has: "
                            + ", ".join(b.name for b in self.backends) + ".")

    def cooling(self, name: str) -> float:
        """Seconds left on a backend's cool-down (0: it may be tried)."""
        return max(0.0, self._open_until.get(name, 0.0) - time.monotonic())

    def _candidates(self) -> list[LLM]:
        ready = [b for b in self.backends if not self.cooling(b.name)]
        return ready or list(self.backends)  # all cooling: try them anyway rather than give up

    async def stream(self, messages: list[Message], tools: list[dict[str, object]] | None = None, **kw: object
                     ) -> AsyncGenerator[LLMEvent, None]:
        start = time.perf_counter()
        self.last_first_token_s = None
        said = ""
        failures: dict[str, str] = {}
        errors: list[tuple[LLM, BaseException]] = []
        prev: LLM | None = None
        served: LLM | None = None  # the backend this stream last reported with LLMServed
        for backend in self._candidates():
            if prev is not None and said:
                yield BackendSwitched(frm=prev.name, to=backend.name, reason=failures[prev.name])
            prefill = bool(getattr(backend, "prefills", False))
            overlap = OverlapFilter("" if prefill else said)
            try:
                async with aclosing(backend.stream(continuation(messages, said, prefill=prefill), tools, **kw)
                                    ) as events:
                    async for ev in events:
                        if isinstance(ev, TextDelta):
                            text = overlap.feed(ev.text)
                            if not text:
                                continue
                            ev = TextDelta(text) if text != ev.text else ev
                            said += text
                        if self.last_first_token_s is None:
                            self.last_first_token_s = time.perf_counter() - start
                        self._active = backend
                        yield ev
                        if served is not backend:  # after its first event: that one is never held up
                            served = backend
                            yield LLMServed(backend.name, backend.model or "")
                if rest := overlap.flush():
                    said += rest
                    yield TextDelta(rest)
            except Exception as exc:  # any failure of one backend moves the turn on
                reason = getattr(exc, "kind", None) or type(exc).__name__
                failures[backend.name] = reason
                errors.append((backend, exc))
                self.last_errors[backend.name] = str(exc)
                self._open_until[backend.name] = time.monotonic() + self.cooldown_s
                log.warning("LLM backend %s failed (%s): %s%s", backend.name, reason, exc,
                            "; continuing the answer on the next backend" if said else "")
                prev = backend
                continue
            if served is not backend:  # it answered, with nothing to say
                yield LLMServed(backend.name, backend.model or "")
            self._active = backend
            self._open_until.pop(backend.name, None)
            self.last_errors.pop(backend.name, None)
            return
        detail = "; ".join(f"{n}: {self.last_errors.get(n, r)}" for n, r in failures.items())
        if prev is not None:
            yield BackendFailed(frm=prev.name, to="", reason=failures[prev.name] + (" mid-answer" if said else ""),
                                recoverable=False)
        raise LLMUnavailable(f"Every LLM backend failed: {detail}", spoken=self._spoken(errors),
                             hint="Run `penny doctor` to see which backend is down and how to fix it.")

    def _spoken(self, errors: list[tuple[LLM, BaseException]]) -> str:
        """What to say when nothing answered: about the backends tried in this turn, last first."""
        for backend, exc in reversed(errors):
            said = getattr(exc, "spoken", None)
            if said and said not in _GENERIC:
                return said
            if getattr(backend, "spoken_failure", None):
                return backend.spoken_failure
        if any(isinstance(b, OpenAICompatLLM) for b, _ in errors):  # a server (not a child of ours) failed
            return self.spoken
        return DEFAULT_SPOKEN

    # ---- models ----
    async def list_models(self, timeout_s: float = LIST_TIMEOUT_S) -> dict[str, list[str]]:
        """Model names per backend (asked concurrently, `timeout_s` at most); an unreachable backend lists none."""
        async def one(b: LLM) -> list[str]:
            if (prepare := getattr(b, "prepare", None)) is not None:
                await prepare()  # not timed: only the backend's answer is
            try:
                return list(await asyncio.wait_for(b.list_models(), timeout_s))
            except asyncio.TimeoutError:
                log.info("LLM backend %s: no model list within %.1f s", b.name, timeout_s)
                self.last_errors[b.name] = f"no model list within {timeout_s:.1f} s"
                return []
            except Exception as exc:
                log.info("LLM backend %s: cannot list models: %s", b.name, exc)
                self.last_errors[b.name] = str(exc)
                return []

        lists = await asyncio.gather(*(one(b) for b in self.backends))
        self._models = {b.name: names for b, names in zip(self.backends, lists)}
        return dict(self._models)

    def set_model(self, name: str, backend: str | None = None) -> LLM:
        """Use model `name` from now on: on `backend`, else on the backend that lists it, else the active one.

        Moves that backend to the front of the chain and returns it.
        """
        if backend is not None:
            target = self.backend(backend)
        else:
            owners = [b for b in self.backends if name in self._models.get(b.name, [])]
            if not owners and any(self._models.values()):
                known = sorted({m for ms in self._models.values() for m in ms})
                raise ModelNotFound(f"No backend lists a model named '{name}'. Available: {', '.join(known)}.")
            target = owners[0] if owners else self.active
        setter = getattr(target, "set_model", None)
        if setter is not None:
            setter(name)
        else:
            target.model = name
        self.backends.remove(target)
        self.backends.insert(0, target)
        self._open_until.pop(target.name, None)
        self._active = target
        return target

    # ---- life cycle ----
    async def start(self, standby: bool = False) -> None:
        """Check every backend's model list (warning when the configured model is missing) and start
        local children (the embedded server) that would answer first: one behind a reachable server
        starts on first use, unless `standby`. Never raises; `stream` decides what answers."""
        self.last_errors.clear()
        models = await self.list_models()  # the embedded backend answers this without starting
        served = False  # an earlier backend is reachable
        for b in self.backends:
            listed = models.get(b.name) or []
            if b.name in self.last_errors:  # unreachable now: don't make the first turn wait on it
                self._open_until[b.name] = time.monotonic() + self.cooldown_s
                continue
            if listed and b.model and b.model not in listed:
                log.warning("LLM backend %s does not list model '%s'; it has: %s", b.name, b.model, ", ".join(listed))
            start = getattr(b, "start", None)
            if start is None or (served and not standby):
                served = True
                continue
            try:
                await start()
                served = True
            except Exception as exc:
                log.warning("LLM backend %s did not start: %s", b.name, exc)
                self.last_errors[b.name] = str(exc)
                self._open_until[b.name] = time.monotonic() + self.cooldown_s

    async def aclose(self) -> None:
        for b in self.backends:
            try:
                await b.aclose()
            except Exception as exc:
                log.debug("closing %s: %s", b.name, exc)
