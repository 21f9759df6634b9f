"""Preset routes: the same files as ``--preset NAME`` on the command line ($VIDBOKEH_HOME/presets)."""
from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import presets_file
from ..errors import UsageError
from .uploads import read_upload


def _entry(preset: presets_file.UserPreset) -> dict:
    return {"name": preset.name, "settings": dict(preset.values)}


def _list() -> dict:
    presets, problems = [], []
    for name in presets_file.list_names():
        try:
            presets.append(_entry(presets_file.load(name)))
        except UsageError as exc:
            problems.append({"name": name, "error": str(exc)})
    return {"presets": presets, "errors": problems}


async def list_presets(request: Request) -> JSONResponse:
    """GET /api/presets -> {"presets": [{name, settings}], "errors": [{name, error}] (files that are bad)}."""
    return JSONResponse(await run_in_threadpool(_list))


async def export_preset(request: Request) -> Response:
    """GET /api/presets/{name} -> the preset file (JSON, as an attachment)."""
    name = request.path_params["name"]
    preset = await run_in_threadpool(presets_file.load, name)
    return Response(preset.to_json(), media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{preset.name}.json"'})


async def save_preset(request: Request) -> JSONResponse:
    """PUT /api/presets/{name} {"settings": {...}} -> the saved preset (replaces one of the same name)."""
    try:
        body = await request.json()
    except ValueError:
        raise HTTPException(400, "the request body is not valid JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("settings"), dict):
        raise HTTPException(400, "expected a JSON object {\"settings\": {...}}")
    preset = presets_file.UserPreset(name=request.path_params["name"], values=body["settings"])
    await run_in_threadpool(presets_file.save, preset)
    return JSONResponse(_entry(preset))


async def delete_preset(request: Request) -> Response:
    """DELETE /api/presets/{name} -> 204."""
    await run_in_threadpool(presets_file.delete, request.path_params["name"])
    return Response(status_code=204)


async def import_preset(request: Request) -> JSONResponse:
    """POST /api/presets/import, multipart ``file`` (a preset file; optional field ``name`` renames it) ->
    the saved preset. A bad file is a 400 naming the problem."""
    upload = await read_upload(request, "file", "preset")
    if len(upload.data) > presets_file.MAX_FILE_BYTES:
        raise HTTPException(413, "too large for a preset file")
    preset = presets_file.parse(upload.data, source=f"{upload.filename}.json")
    rename = upload.fields.get("name", "").strip()
    if rename:
        preset = presets_file.UserPreset(name=rename, values=preset.values)
    await run_in_threadpool(presets_file.save, preset)
    return JSONResponse(_entry(preset), status_code=201)


ROUTES = [
    Route("/api/presets", list_presets, methods=["GET"]),
    Route("/api/presets/import", import_preset, methods=["POST"]),
    Route("/api/presets/{name}", export_preset, methods=["GET"]),
    Route("/api/presets/{name}", save_preset, methods=["PUT"]),
    Route("/api/presets/{name}", delete_preset, methods=["DELETE"]),
]
