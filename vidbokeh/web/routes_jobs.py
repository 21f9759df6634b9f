"""Video job routes: upload a clip -> a job; list, poll, cancel, delete, download. Jobs belong to the
browser session that made them, so a reloaded page finds them again."""
from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from .jobs import VideoJob
from .routes_photos import session_of, settings_from_values
from .sessions import new_id
from .uploads import read_upload, require_video, video_suffixes


async def create_job(request: Request) -> JSONResponse:
    """POST /api/jobs, multipart ``video`` + optional ``settings`` (a JSON object of effect settings) ->
    202 with the job."""
    session, config = session_of(request), request.app.state.config
    upload = await read_upload(request, "video", "video")
    require_video(upload.data[:256])
    try:
        values = json.loads(upload.fields.get("settings") or "{}")
    except ValueError:
        raise HTTPException(400, "the settings field is not valid JSON") from None
    if not isinstance(values, dict):
        raise HTTPException(400, "the settings field must be a JSON object")
    settings = request.app.state.studio.prepare(settings_from_values(request, values, video=True))
    if sum(job.running for job in session.jobs.values()) >= config.jobs_per_session:
        raise HTTPException(429, f"this session already has {config.jobs_per_session} jobs waiting or running")
    job_id = new_id()
    folder = session.work_folder() / job_id
    folder.mkdir(mode=0o700)
    in_suffix, out_suffix = video_suffixes(upload.data[:256])
    job = VideoJob(id=job_id, stem=upload.filename, folder=folder, input=folder / f"input{in_suffix}",
                   output=folder / f"output{out_suffix}", settings=settings)
    await run_in_threadpool(job.input.write_bytes, upload.data)
    _drop_oldest_finished(session, config.jobs_per_session)
    session.jobs[job_id] = job
    request.app.state.jobs.submit(job)
    return JSONResponse(job.describe(), status_code=202)


def _drop_oldest_finished(session, limit: int) -> None:
    finished = [job_id for job_id, job in session.jobs.items() if not job.running]
    while len(session.jobs) >= limit and finished:
        session.jobs.pop(finished.pop(0)).discard()


def _job(request: Request) -> VideoJob:
    job = session_of(request).jobs.get(request.path_params["job_id"])
    if job is None:
        raise HTTPException(404, "no such job in this browser session (made elsewhere, removed, or expired)")
    return job


async def list_jobs(request: Request) -> JSONResponse:
    """GET /api/jobs -> {"jobs": [...]}, oldest first."""
    return JSONResponse({"jobs": [job.describe() for job in session_of(request).jobs.values()]})


async def get_job(request: Request) -> JSONResponse:
    return JSONResponse(_job(request).describe())


async def cancel_job(request: Request) -> JSONResponse:
    """POST /api/jobs/{id}/cancel -> the job (a running job reads "cancelled" once it has stopped)."""
    job = _job(request)
    job.cancel()
    return JSONResponse(job.describe())


async def delete_job(request: Request) -> Response:
    """DELETE /api/jobs/{id}: cancel if needed and remove its files -> 204."""
    job = _job(request)
    session_of(request).jobs.pop(job.id, None)
    job.discard()
    return Response(status_code=204)


async def job_output(request: Request) -> Response:
    """GET /api/jobs/{id}/output -> the finished video (attachment)."""
    job = _job(request)
    if job.state != "done" or not job.output.is_file():
        raise HTTPException(409, f"the job is {job.state}; its video is there once it is done")
    return FileResponse(job.output, filename=job.download_name)


ROUTES = [
    Route("/api/jobs", create_job, methods=["POST"]),
    Route("/api/jobs", list_jobs, methods=["GET"]),
    Route("/api/jobs/{job_id}", get_job, methods=["GET"]),
    Route("/api/jobs/{job_id}", delete_job, methods=["DELETE"]),
    Route("/api/jobs/{job_id}/cancel", cancel_job, methods=["POST"]),
    Route("/api/jobs/{job_id}/output", job_output, methods=["GET"]),
]
