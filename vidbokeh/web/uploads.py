"""Reading uploads: multipart fields, what kind of file arrived (by its first bytes, never by its name), and a
safe download name. Errors are ``HTTPException``s that the app answers as one-line JSON."""
from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request

IMAGE_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "TIFF": "image/tiff"}
_MAX_FIELD_BYTES = 64 * 1024


@dataclass(frozen=True)
class Upload:
    data: bytes
    filename: str  # a safe stem for download names: never used as a path
    fields: dict[str, str]  # the other (text) form fields


def image_format(head: bytes) -> str | None:
    """JPEG, PNG, WEBP or TIFF from a file's first bytes; None for anything else."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    return None


def looks_like_video(head: bytes) -> bool:
    """True when the first bytes are those of a common video container (MP4/MOV, Matroska/WebM, AVI, MPEG
    program/transport streams, FLV, Ogg); PyAV then decides whether it can really be read."""
    if len(head) < 12:
        return False
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip"):
        return True
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: Matroska, WebM
        return True
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return True
    if head.startswith(b"\x00\x00\x01\xba") or head.startswith(b"FLV") or head.startswith(b"OggS"):
        return True
    return head[0] == 0x47 and (len(head) < 189 or head[188] == 0x47)  # MPEG-TS sync bytes


def video_suffixes(head: bytes) -> tuple[str, str]:
    """(suffix for the stored input, suffix for the output) of a video by its first bytes: WebM stays WebM,
    Matroska stays MKV, everything else becomes MP4."""
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return (".webm", ".webm") if b"webm" in head[:64] else (".mkv", ".mkv")
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip"):
        return ".mp4" if head[8:10] != b"qt" else ".mov", ".mp4"
    if head[:4] == b"RIFF":
        return ".avi", ".mp4"
    if head.startswith(b"FLV"):
        return ".flv", ".mp4"
    if head.startswith(b"OggS"):
        return ".ogv", ".mp4"
    return (".mpg" if head.startswith(b"\x00\x00\x01\xba") else ".ts"), ".mp4"


def safe_stem(filename: str | None, fallback: str) -> str:
    """A download-name stem from an uploaded file's name: its last part, without the extension, reduced to
    letters, digits, '-', '_' and '.' (at most 80)."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0] if "." in name else name
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[:80]
    return stem or fallback


async def read_upload(request: Request, field: str, fallback_name: str) -> Upload:
    """The file in form field ``field`` plus the text fields; 400 when the body is not a form with that file."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise HTTPException(415, f"expected multipart/form-data with the file in a field named {field!r}")
    async with request.form(max_files=1, max_fields=64, max_part_size=_MAX_FIELD_BYTES) as form:
        upload = form.get(field)
        if not isinstance(upload, UploadFile):
            raise HTTPException(400, f"no file in the form field {field!r}")
        data = await upload.read()
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        name = safe_stem(upload.filename, fallback_name)
    if not data:
        raise HTTPException(400, f"the uploaded file in {field!r} is empty")
    return Upload(data=data, filename=name, fields=fields)


def require_image(upload: Upload) -> str:
    """The image format of ``upload`` (415 naming the accepted formats when it is not one)."""
    fmt = image_format(upload.data[:16])
    if fmt is None:
        raise HTTPException(415, "not a supported image: upload a JPEG, PNG, WebP or TIFF file")
    return fmt


def require_video(head: bytes) -> None:
    if image_format(head[:16]) is not None:
        raise HTTPException(415, "this is a still image; video jobs take a video file (MP4, MOV, MKV, WebM, AVI)")
    if not looks_like_video(head):
        raise HTTPException(415, "not a video: upload an MP4, MOV, MKV, WebM or AVI file")
