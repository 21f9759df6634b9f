"""The studio's Starlette app: lifespan (models, work folder, clean-up), middleware, routes, JSON errors."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from .. import __version__
from ..errors import InputError, ModelError, OutputError, PresetNotFoundError, UsageError, VidbokehError
from .config import ServerSettings
from .middleware import BrowserSessions, UploadLimit
from .sessions import SessionStore

log = logging.getLogger(__name__)
STATIC = Path(__file__).with_name("static")
_SWEEP_S = 30.0


def _status_of(exc: VidbokehError) -> int:
    if isinstance(exc, PresetNotFoundError):
        return 404
    if isinstance(exc, (UsageError, InputError)):
        return 400
    if isinstance(exc, ModelError):
        return 503
    return 500


async def _vidbokeh_error(request: Request, exc: Exception) -> JSONResponse:
    status = _status_of(exc)
    if status >= 500 and isinstance(exc, OutputError):
        log.error("output error: %s", exc)
    return JSONResponse({"error": str(exc)}, status_code=status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("internal error on %s %s", request.method, request.url.path)
    return JSONResponse({"error": f"internal error ({type(exc).__name__}); see the server log"}, status_code=500)


async def index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})


async def health(request: Request) -> JSONResponse:
    from .catalogue import choices

    config = request.app.state.config
    served = config.weights_variant if config.weights is not None else None
    return JSONResponse({"status": "ok", "version": __version__, **choices(served)})


def build_app(config: ServerSettings) -> Starlette:
    from ..engine import EffectSettings
    from . import live, routes_jobs, routes_photos, routes_presets
    from .jobs import JobRunner
    from .studio import Studio

    if config.work_dir is not None and not Path(config.work_dir).is_dir():
        raise UsageError(f"work folder {config.work_dir} does not exist")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        root = Path(tempfile.mkdtemp(prefix="vidbokeh-serve-", dir=config.work_dir))
        app.state.root = root
        store.root = root / "sessions"
        store.root.mkdir()
        app.state.studio = Studio(EffectSettings(device=config.device), config.weights, config.weights_variant)
        app.state.jobs = JobRunner(config)
        sweeper = asyncio.create_task(_sweep(app), name="vidbokeh-sweep")
        log.info("work folder %s", root)
        try:
            yield
        finally:
            sweeper.cancel()
            await app.state.jobs.shutdown(store.all())
            store.close_all()
            await asyncio.to_thread(app.state.studio.close)
            shutil.rmtree(root, ignore_errors=True)

    store = SessionStore(Path(tempfile.gettempdir()), config.session_ttl_s)  # root set in the lifespan
    routes = [
        Route("/", index),
        Route("/api/health", health),
        *routes_photos.ROUTES,
        *routes_presets.ROUTES,
        *routes_jobs.ROUTES,
        WebSocketRoute("/api/live", live.live_socket),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [
        Middleware(TrustedHostMiddleware, allowed_hosts=config.trusted_hosts()),
        Middleware(BrowserSessions, store=store),
        Middleware(UploadLimit, max_bytes=config.max_upload_bytes),
    ]
    handlers = {VidbokehError: _vidbokeh_error, HTTPException: _http_error, Exception: _internal_error}
    app = Starlette(routes=routes, middleware=middleware, exception_handlers=handlers, lifespan=lifespan)
    app.state.config = config
    app.state.sessions = store
    return app


async def _sweep(app: Starlette) -> None:
    """Every half minute: remove finished jobs past their time limit and idle browser sessions."""
    while True:
        await asyncio.sleep(_SWEEP_S)
        try:
            app.state.jobs.expire(app.state.sessions.all())
            app.state.sessions.expire_idle()
        except Exception:  # a failed sweep must not end the server; the next one tries again
            log.exception("clean-up sweep failed")
