"""ASGI middleware of the studio: the browser-session cookie with a same-origin check, and the upload limit.

Both are plain ASGI (no buffering of bodies, WebSockets included), so an oversized upload is refused
before or while it streams in, never after it was stored.
"""
from __future__ import annotations

import json
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.requests import cookie_parser

from .sessions import COOKIE, SessionStore

_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


async def send_json_error(send, status: int, message: str, extra_headers: list | None = None) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               *(extra_headers or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _cross_origin(headers: Headers) -> bool:
    """True when the request carries an Origin that is not this server (another site, or "null")."""
    origin = headers.get("origin")
    if origin is None:
        return False  # not sent by a browser for a cross-site request (or a script such as curl)
    return urlsplit(origin).netloc.lower() != headers.get("host", "").lower()


class BrowserSessions:
    """Attaches ``scope["state"]["session"]`` (made on first visit, cookie set on the response) and refuses
    cross-origin WebSockets and cross-origin requests that change something."""

    def __init__(self, app, store: SessionStore) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if (scope["type"] == "websocket" or scope.get("method", "GET") not in _SAFE_METHODS) \
                and _cross_origin(headers):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            else:
                await send_json_error(send, 403, "cross-origin request refused")
            return
        token = cookie_parser(headers.get("cookie", "")).get(COOKIE)
        session = self.store.get(token)
        created = session is None
        if created:
            session = self.store.create()
        scope.setdefault("state", {})["session"] = session
        if not created or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookie = f"{COOKIE}={session.token}; Path=/; HttpOnly; SameSite=Strict".encode()

        async def send_with_cookie(message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)


class _TooLarge(Exception):
    pass


class UploadLimit:
    """413 with a JSON error for request bodies over ``max_bytes``: at once when Content-Length says so,
    otherwise as soon as the streamed body passes the limit."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _message(self) -> str:
        return f"upload too large: the limit is {self.max_bytes / (1024 * 1024):.4g} MB (--max-upload-mb)"

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await send_json_error(send, 413, self._message(), [(b"connection", b"close")])
            return
        seen = 0
        started = False

        async def counted_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge()
            return message

        async def tracking_send(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracking_send)
        except _TooLarge:
            if not started:
                await send_json_error(send, 413, self._message(), [(b"connection", b"close")])
