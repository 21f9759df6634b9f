"""The studio server's settings (frozen, validated on construction)."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8000  # 0: any free port (the URL printed says which)
    max_upload_mb: float = 50.0  # larger request bodies -> 413
    job_ttl_s: float = 3600.0  # finished video jobs (and their outputs) are removed this long after they end
    session_ttl_s: float = 6 * 3600.0  # a browser session idle this long is removed with all it holds
    photos_per_session: int = 4  # photos (and their cached analyses) kept per browser session, newest first
    jobs_per_session: int = 8  # video jobs kept per browser session (running ones count)
    preview_pixels: int = 2_000_000  # the page's pictures are rendered at most this large; downloads full size
    work_dir: Path | None = None  # where uploads and job outputs go; None: a fresh temporary folder
    device: str = "auto"  # compute device for every model the server loads
    weights: Path | None = None  # a depth weights file the server uses instead of the store (`serve --weights`)
    weights_model: str | None = None  # the variant that file holds (None: the depth_anything default)
    allowed_hosts: tuple[str, ...] = field(default=())  # Host headers accepted besides the bound host and loopback

    def __post_init__(self) -> None:
        if not self.host:
            raise UsageError("--host must not be empty")
        if not 0 <= self.port <= 65535:
            raise UsageError(f"--port must be 0..65535, got {self.port}")
        if not self.max_upload_mb > 0:
            raise UsageError(f"--max-upload-mb must be > 0, got {self.max_upload_mb}")
        if not self.job_ttl_s > 0:
            raise UsageError(f"job time limit must be > 0 seconds, got {self.job_ttl_s}")
        if not self.session_ttl_s > 0:
            raise UsageError(f"session time limit must be > 0 seconds, got {self.session_ttl_s}")
        if self.weights is not None and not Path(self.weights).is_file():
            raise UsageError(f"{self.weights}: weights file not found")
        if self.photos_per_session < 1 or self.jobs_per_session < 1:
            raise UsageError("photos_per_session and jobs_per_session must be >= 1")
        if self.preview_pixels < 10_000:
            raise UsageError(f"preview_pixels must be >= 10000, got {self.preview_pixels}")

    @property
    def weights_variant(self) -> str:
        from ..depth.registry import DEFAULT_MODELS

        return self.weights_model or DEFAULT_MODELS["depth_anything"]

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    def trusted_hosts(self) -> list[str]:
        """Host header values accepted (against DNS rebinding): loopback names, the bound host, extras;
        every host when bound to all interfaces."""
        if self.host in ("0.0.0.0", "::"):
            return ["*"]
        hosts = {*LOOPBACK_NAMES, "[::1]", self.host, *self.allowed_hosts}
        return sorted(hosts)
