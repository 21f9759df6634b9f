"""The local web studio: ``vidbokeh serve`` (the ``[web]`` extra: Starlette, uvicorn, python-multipart).

    create_app(ServerSettings()) -> the ASGI app (tests drive it in-process)
    serve(ServerSettings())      -> runs it on uvicorn until Ctrl-C

The page (``static/``) and the HTTP API it uses are described in README.md. Everything that touches the
engine goes through ``studio.py``; everything a browser session owns lives in ``sessions.py``.
"""
from __future__ import annotations

import importlib.util

from ..errors import UsageError
from .config import ServerSettings

__all__ = ["ServerSettings", "create_app", "require_web", "serve"]

_NEEDED = ("starlette", "uvicorn", "multipart")


def require_web() -> None:
    """UsageError naming the ``[web]`` extra when one of its packages is missing."""
    missing = [name for name in _NEEDED if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(f"the web studio needs the [web] extra: pip install 'vidbokeh[web]' "
                         f"(missing: {', '.join(missing)})")


def create_app(settings=None):
    """The studio's ASGI app for ``settings`` (a ``ServerSettings``; default: its defaults)."""
    require_web()
    from .app import build_app

    return build_app(settings if settings is not None else ServerSettings())


def serve(settings=None) -> int:
    """Run the studio on uvicorn until Ctrl-C; returns the exit code."""
    require_web()
    from .server import run_server

    return run_server(settings if settings is not None else ServerSettings())
