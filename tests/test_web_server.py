"""``vidbokeh serve``: a real uvicorn server in a subprocess, stopped by Ctrl-C."""
from __future__ import annotations

import json
import time

import pytest

from web_helpers import _mediapipe_files, start_server, web_home  # noqa: F401 (fixtures)


def test_loopback_is_the_default_and_other_hosts_are_warned_about():
    from vidbokeh.web import ServerSettings
    from vidbokeh.web.server import exposure_warning

    assert ServerSettings().host == "127.0.0.1" and exposure_warning(ServerSettings()) is None
    for host in ("localhost", "127.0.0.5", "::1"):
        assert exposure_warning(ServerSettings(host=host)) is None
    for host in ("0.0.0.0", "192.168.1.20", "::"):
        assert "reachable from other machines" in exposure_warning(ServerSettings(host=host))
    assert ServerSettings(host="0.0.0.0").trusted_hosts() == ["*"]
    assert "evil.example" not in ServerSettings().trusted_hosts()


@pytest.mark.parametrize("bad", [{"port": 70000}, {"max_upload_mb": 0}, {"host": ""}, {"job_ttl_s": -1},
                                 {"weights": "/nonexistent/w.pt"}])
def test_bad_server_settings_are_one_usage_error(bad):
    from vidbokeh.errors import UsageError
    from vidbokeh.web import ServerSettings

    with pytest.raises(UsageError):
        ServerSettings(**bad)


@pytest.mark.slow
def test_ctrl_c_stops_the_server_within_seconds_and_removes_a_running_jobs_files(web_home, tmp_path):
    import httpx

    from media_factory import make_clip

    work = tmp_path / "work"
    work.mkdir()
    server = start_server(["--work-dir", work], web_home, tmp_path / "server.log")
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            assert client.get("/api/health").json()["status"] == "ok"
            clip = make_clip(tmp_path / "long.mp4", width=320, height=240, frames=600)
            job = client.post("/api/jobs", files={"video": ("long.mp4", clip.read_bytes())},
                              data={"settings": json.dumps({"approach": "selfie"})}).json()
            deadline = time.monotonic() + 300
            while client.get(f"/api/jobs/{job['id']}").json()["frames_done"] < 3:
                assert time.monotonic() < deadline, "the job never started"
                time.sleep(0.2)  # polling the job's progress
            assert any(p.suffix == ".mp4" for p in work.rglob("*"))
    finally:
        t0 = time.monotonic()
        code = server.stop(timeout=30)
        stopped_in = time.monotonic() - t0
    log = server.log.read_text(errors="replace")
    assert code == 130, log
    assert stopped_in < 10, f"Ctrl-C took {stopped_in:.1f} s"
    assert not list(work.iterdir()), "uploads or outputs left behind"
    assert "Traceback" not in log
