"""The live camera over a WebSocket (``/api/live``).

Protocol (documented in README): the page sends ``{"type": "start", "settings": {...}}``, the server loads
the models and answers ``{"type": "ready", ...}``; then each binary message is one camera frame (JPEG or
PNG) and is answered with one binary message, the processed frame (JPEG). The page keeps one frame in
flight, so the server never queues frames and the latency stays one round trip. ``{"type": "controls",
"blur_scale": S, "focus_offset": F}`` changes the live controls for the frames after it. A problem is a
``{"type": "error", "error": "..."}`` message, then the socket closes.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import time

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketDisconnect

from .. import presets_file
from ..errors import UsageError, VidbokehError

log = logging.getLogger(__name__)
MAX_FRAME_BYTES = 8 * 1024 * 1024
MAX_FRAME_SIDE = 4096  # a camera frame larger than this is refused before it is decoded
_JPEG_QUALITY = 80


def _decode(data: bytes) -> np.ndarray:
    import cv2

    from ..errors import InputError

    if len(data) > MAX_FRAME_BYTES:
        raise InputError(f"frame too large ({len(data)} bytes; at most {MAX_FRAME_BYTES})")
    size = _frame_size(data)
    if size is None:
        raise InputError("a frame that is not a JPEG or PNG image")
    if max(size) > MAX_FRAME_SIDE:
        raise InputError(f"frame too large ({size[0]}x{size[1]}; at most {MAX_FRAME_SIDE} pixels a side)")
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError("a frame that is not a JPEG or PNG image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _frame_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG or PNG header, without decoding the pixels."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.size if img.format in ("JPEG", "PNG") else None
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def _encode(rgb: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
    if not ok:
        raise RuntimeError("could not encode a frame")
    return buf.tobytes()


def _controls(message: dict):
    from ..engine import LiveControls

    try:
        blur = float(message.get("blur_scale", 1.0))
        offset = float(message.get("focus_offset", 0.0))
    except (TypeError, ValueError):
        raise UsageError("controls: blur_scale and focus_offset must be numbers") from None
    return LiveControls(blur_scale=min(4.0, max(0.0, blur)), focus_offset=min(1.0, max(-1.0, offset)))


async def live_socket(ws: WebSocket) -> None:
    await ws.accept()
    studio = ws.app.state.studio
    session = None
    try:
        start = await ws.receive_json()
        if not isinstance(start, dict) or start.get("type") != "start":
            raise UsageError('the first message must be {"type": "start", "settings": {...}}')
        values = start.get("settings") or {}
        if not isinstance(values, dict):
            raise UsageError("settings must be a JSON object")
        settings = presets_file.settings_from_values(values, base=dataclasses.replace(studio.base, video=True))
        session = await run_in_threadpool(studio.open_live, settings)
        await ws.send_json({"type": "ready", "approach": session.approach})
        controls = _controls({})
        t0 = time.monotonic()
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            if message.get("bytes") is not None:
                rgb = _decode(message["bytes"])
                out = await run_in_threadpool(session.process, rgb, time.monotonic() - t0, controls)
                await ws.send_bytes(await run_in_threadpool(_encode, out))
            elif message.get("text") is not None:
                data = json.loads(message["text"])
                if isinstance(data, dict) and data.get("type") == "controls":
                    controls = _controls(data)
    except WebSocketDisconnect:
        pass
    except (VidbokehError, ValueError) as exc:
        await _fail(ws, str(exc))
    except Exception as exc:
        log.exception("live socket failed")
        await _fail(ws, f"internal error ({type(exc).__name__}); see the server log")
    finally:
        if session is not None:
            await run_in_threadpool(session.close)


async def _fail(ws: WebSocket, message: str) -> None:
    try:
        await ws.send_json({"type": "error", "error": message})
        await ws.close(code=1011)
    except Exception:  # the browser is already gone
        pass
