"""The FastAPI app: the browser page, the WebSocket voice protocol and the HTTP API.

`create_app(cfg)` loads every model once at start-up (Engines.load) and closes them at shutdown;
`create_app(cfg, engines=...)` serves engines the caller owns (tests, embedding).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from fastapi import FastAPI, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

import penny
from penny.config import PennyConfig
from penny.errors import PennyError
from penny.server.auth import Guard
from penny.server.metrics import Metrics

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self' ws: wss:; media-src 'self' blob:; worker-src 'self' blob:; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")

# Per-connection flood limits. Microphone audio is 32 kB/s; allow 4x that, and a 15 s burst.
DEFAULT_LIMITS = {"msgs_per_s": 200.0, "msgs_burst": 400.0, "bytes_per_s": 128_000.0, "bytes_burst": 480_000.0}

STATUS_BY_CODE = {"audio-invalid": 400, "model-not-found": 404, "protocol-error": 400, "config-invalid": 400,
                  "llm-unreachable": 503, "stt-no-text": 422,
                  "stt-failed": 503, "tts-failed": 503}


def api_error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def invalid_request_response(errors, limit: int = 20) -> JSONResponse:
    """422 naming each bad field and why, never echoing the input back (FastAPI's default returns the
    whole body: a 100 KB request made a 100 KB error)."""
    detail = [{"loc": [str(p)[:64] for p in e.get("loc", ())][:8], "msg": str(e.get("msg", ""))[:200],
               "type": str(e.get("type", ""))[:64]} for e in list(errors)[:limit]]
    problems = "; ".join(f"{'.'.join(p for p in d['loc'] if p != 'body') or 'body'}: {d['msg']}" for d in detail)
    return JSONResponse({"error": {"code": "invalid-request", "message": problems}, "detail": detail},
                        status_code=422)


class ServerState:
    """What every request and connection of one app shares."""

    def __init__(self, cfg: PennyConfig, engines, guard: Guard, limits: dict):
        self.cfg = cfg
        self.engines = engines
        self.guard = guard
        self.limits = limits
        self.metrics = Metrics()
        self.active_sessions: set[str] = set()
        self.connections: set = set()
        self.health_cache: tuple[float, dict, int] | None = None
        self.health_lock = asyncio.Lock()
        self.stt_slot = asyncio.Semaphore(1)  # /api/transcribe decodes one upload at a time
        self.model_lock = asyncio.Lock()  # one model switch at a time
        self.startup_error: PennyError | None = None
        self.satellites = None  # penny.wyoming.satellites.Satellites, when cfg.satellites lists any

    def llm_status(self) -> dict:
        active = getattr(getattr(self.engines, "llm", None), "active", None)
        return {"backend": getattr(active, "name", None), "model": getattr(active, "model", None)}

    async def broadcast(self, message: dict) -> None:
        for conn in list(self.connections):
            with contextlib.suppress(Exception):
                await conn.send(message)


class BodyLimit:
    """Pure ASGI middleware: refuse HTTP bodies over `max_bytes` (413), by header or while streaming."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            return await self._reject(send)
        seen = 0
        started = False

        async def limited_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge()
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._reject(send)

    async def _reject(self, send):
        mb = self.max_bytes / 1e6
        resp = api_error(413, "too-large", f"The request body is larger than the {mb:g} MB limit "
                                           "(server.max_upload_mb).")
        await resp({"type": "http"}, None, send)


class _TooLarge(Exception):
    pass


def create_app(cfg: PennyConfig, engines=None, *, guard: Guard | None = None, limits: dict | None = None) -> FastAPI:
    from penny.server.api import router as api_router, metrics_endpoint
    from penny.server.models_api import router as models_router
    from penny.server.ws import Connection

    from penny.privacy import start

    start(cfg, files=engines is None)  # no library telemetry; user data private (when serving our own data)
    guard = guard or Guard()
    state = ServerState(cfg, engines, guard, {**DEFAULT_LIMITS, **(limits or {})})

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        owned = None
        if state.engines is None:
            from penny.app.engines import Engines

            log.info("loading models...")
            try:
                state.engines = owned = await Engines.load(cfg)
            except PennyError as exc:
                state.startup_error = exc  # `penny serve` reports it in one line
                raise
        from penny.wyoming.server import start_wyoming  # Home Assistant's services, on the same engines

        wyoming = await start_wyoming(cfg, state.engines) if cfg.wyoming.enabled else None
        if cfg.satellites:  # Penny drives the rooms' satellites, on the same engines
            from penny.wyoming.satellites import Satellites

            state.satellites = Satellites(state.engines, cfg.satellites).start()
        try:
            yield
        finally:
            if state.satellites is not None:
                await state.satellites.stop()
            if wyoming is not None:
                await wyoming.stop()
            for conn in list(state.connections):
                with contextlib.suppress(Exception):
                    await conn.ws.close(code=1001)
            if owned is not None:
                await owned.aclose()

    app = FastAPI(title="Penny", version=penny.__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Penny's HTTP API. The voice protocol (WebSocket `/ws`) is described in "
                              "docs/protocol.md. With a token, send `Authorization: Bearer <token>`.")
    app.state.penny = state
    app.add_middleware(BodyLimit, max_bytes=int(cfg.server.max_upload_mb * 1024 * 1024))

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        path = request.url.path
        if path == "/" or path.startswith("/static/"):
            response.headers.setdefault("Content-Security-Policy", CSP)
            response.headers.setdefault("Cache-Control", "no-cache")
        return response

    @app.exception_handler(PennyError)
    async def penny_error(request: Request, exc: PennyError):
        status = getattr(exc, "status", None) or STATUS_BY_CODE.get(exc.code, 500)
        return api_error(status, exc.code, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        code = {400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found",
                405: "method-not-allowed", 413: "too-large"}.get(exc.status_code, f"http-{exc.status_code}")
        resp = api_error(exc.status_code, code, str(exc.detail))
        for k, v in (exc.headers or {}).items():
            resp.headers[k] = v
        return resp

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        return invalid_request_response(exc.errors())

    app.include_router(api_router)
    app.include_router(models_router)
    app.add_api_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=True,
                      summary="Prometheus metrics", tags=["ops"])

    @app.websocket("/ws")
    async def websocket(ws: WebSocket):
        conn = Connection(ws, state)
        state.connections.add(conn)
        try:
            await conn.run()
        finally:
            state.connections.discard(conn)

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR, follow_symlink=False), name="static")
    _offline_docs(app)
    return app


def _offline_docs(app: FastAPI) -> None:
    """/docs from the swagger-ui-bundle package: FastAPI's default page loads Swagger UI from a CDN."""
    import swagger_ui_bundle
    from fastapi.openapi.docs import get_swagger_ui_html

    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return get_swagger_ui_html(openapi_url=app.openapi_url, title="Penny API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon-32x32.png")
