"""Photo routes: the stateless ``POST /api/render`` for scripts, and the page's photo workflow (upload once,
re-render a preview on every slider change from the cached analysis, maps on demand, full-resolution
download)."""
from __future__ import annotations

import dataclasses
import json
import time

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import presets_file
from ..engine import EffectSettings
from .uploads import IMAGE_TYPES, read_upload, require_image

_PREVIEW_QUALITY = 90


def session_of(request: Request):
    return request.scope["state"]["session"]


async def settings_from_body(request: Request, *, video: bool = False) -> EffectSettings:
    """The effect settings in a JSON body ``{"settings": {FIELD: VALUE}}`` over the server's defaults."""
    try:
        body = await request.json() if await request.body() else {}
    except ValueError:
        raise HTTPException(400, "the request body is not valid JSON") from None
    values = body.get("settings", {}) if isinstance(body, dict) else None
    if not isinstance(values, dict):
        raise HTTPException(400, "expected a JSON object {\"settings\": {...}}")
    return settings_from_values(request, values, video=video)


def settings_from_values(request: Request, values: dict, *, text: bool = False, video: bool = False) -> EffectSettings:
    base = request.app.state.studio.base
    if video:
        base = dataclasses.replace(base, video=True)
    return presets_file.settings_from_values(values, base=base, text=text)


def _download_name(photo, suffix: str = "") -> str:
    from ..media.images import SUFFIX_BY_FORMAT

    return f"{photo.stem}_bokeh{suffix or SUFFIX_BY_FORMAT[photo.format]}"


def encode_preview(rgb: np.ndarray, fmt: str = ".jpg") -> bytes:
    """A picture for the page to show (JPEG, or PNG for maps)."""
    import cv2

    params = [cv2.IMWRITE_JPEG_QUALITY, _PREVIEW_QUALITY] if fmt == ".jpg" else []
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb.ndim == 3 else rgb
    ok, buf = cv2.imencode(fmt, bgr, params)
    if not ok:
        raise RuntimeError(f"could not encode a {fmt} preview")
    return buf.tobytes()


async def render_once(request: Request) -> Response:
    """POST /api/render: multipart ``image`` + optional fields named like the image-mode flags (and
    ``preset``, a saved preset's name) -> the rendered image, encoded as ``vidbokeh image`` writes it."""
    studio = request.app.state.studio
    upload = await read_upload(request, "image", "image")
    fmt = require_image(upload)
    fields = dict(upload.fields)
    preset_name = fields.pop("preset", "").strip()
    settings = studio.base
    if preset_name:
        settings = presets_file.load(preset_name).apply(settings)
    settings = presets_file.settings_from_values(fields, base=settings, text=True)
    photo = await run_in_threadpool(studio.open_photo, upload.data, upload.filename)
    result = await run_in_threadpool(studio.render, photo, settings)
    data = await run_in_threadpool(studio.encode_like, photo, result.output)
    return Response(data, media_type=IMAGE_TYPES[fmt],
                    headers={"Content-Disposition": f'inline; filename="{_download_name(photo)}"'})


async def upload_photo(request: Request) -> JSONResponse:
    """POST /api/photos: keep a photo in this browser session -> {id, width, height, format, name}."""
    from .sessions import new_id

    studio, config = request.app.state.studio, request.app.state.config
    upload = await read_upload(request, "image", "photo")
    require_image(upload)
    photo = await run_in_threadpool(studio.open_photo, upload.data, upload.filename)
    photo_id = new_id()
    session_of(request).add_photo(photo_id, photo, config.photos_per_session)
    width, height = photo.size
    return JSONResponse({"id": photo_id, "width": width, "height": height, "format": photo.format,
                         "name": photo.stem}, status_code=201)


def _photo(request: Request):
    photo = session_of(request).photos.get(request.path_params["photo_id"])
    if photo is None:
        raise HTTPException(404, "no such photo in this browser session (uploaded elsewhere, or expired)")
    return photo


async def original(request: Request) -> Response:
    """GET /api/photos/{id}/original: the photo as the page shows it (JPEG, orientation applied)."""
    photo = _photo(request)
    data = await run_in_threadpool(encode_preview, photo.image.rgb)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


async def _render(request: Request, *, full_size: bool = False):
    """(photo, result, seconds) for the settings in the body: a preview for the page, or the full picture."""
    photo = _photo(request)
    settings = await settings_from_body(request)
    max_pixels = None if full_size else request.app.state.config.preview_pixels
    t0 = time.perf_counter()
    result = await run_in_threadpool(request.app.state.studio.render, photo, settings, max_pixels)
    return photo, result, time.perf_counter() - t0


def _timing_headers(result, seconds: float) -> dict[str, str]:
    headers = {"X-Render-Ms": f"{seconds * 1000:.1f}",
               "X-Timings": json.dumps({k: round(v * 1000, 1) for k, v in result.timings.items()})}
    if result.focus is not None:
        headers["X-Focus"] = f"{result.focus:.4f}"
    return headers


async def preview(request: Request) -> Response:
    """POST /api/photos/{id}/render {"settings": {...}} -> the result as a JPEG for the page."""
    _, result, seconds = await _render(request)
    data = await run_in_threadpool(encode_preview, result.output)
    return Response(data, media_type="image/jpeg", headers=_timing_headers(result, seconds))


async def depth_map(request: Request) -> Response:
    """POST /api/photos/{id}/depth -> the depth map (colourised PNG, near bright) for these settings."""
    from ..media.maps import colourise_depth

    _, result, seconds = await _render(request)
    if result.depth is None:
        raise HTTPException(400, "this approach has no depth map (selfie uses segmentation only)")
    data = await run_in_threadpool(lambda: encode_preview(colourise_depth(result.depth), ".png"))
    return Response(data, media_type="image/png", headers=_timing_headers(result, seconds))


async def mask(request: Request) -> Response:
    """POST /api/photos/{id}/mask -> the protection mask (PNG, white = kept sharp) for these settings."""
    _, result, seconds = await _render(request)
    grey = (np.clip(result.protect, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    data = await run_in_threadpool(encode_preview, grey, ".png")
    return Response(data, media_type="image/png", headers=_timing_headers(result, seconds))


async def download(request: Request) -> Response:
    """POST /api/photos/{id}/download -> the full-resolution result in the photo's own format, EXIF and ICC
    kept: the same bytes ``vidbokeh image`` writes for these settings."""
    photo, result, _ = await _render(request, full_size=True)
    data = await run_in_threadpool(request.app.state.studio.encode_like, photo, result.output)
    return Response(data, media_type=IMAGE_TYPES[photo.format],
                    headers={"Content-Disposition": f'attachment; filename="{_download_name(photo)}"'})


ROUTES = [
    Route("/api/render", render_once, methods=["POST"]),
    Route("/api/photos", upload_photo, methods=["POST"]),
    Route("/api/photos/{photo_id}/original", original, methods=["GET"]),
    Route("/api/photos/{photo_id}/render", preview, methods=["POST"]),
    Route("/api/photos/{photo_id}/depth", depth_map, methods=["POST"]),
    Route("/api/photos/{photo_id}/mask", mask, methods=["POST"]),
    Route("/api/photos/{photo_id}/download", download, methods=["POST"]),
]
