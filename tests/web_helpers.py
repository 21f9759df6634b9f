"""Shared pieces of the web studio tests: a model store of their own (presets isolated, MediaPipe models
linked from the real store), an in-process client, and a real server on a free port."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def _mediapipe_files() -> list[Path]:
    from vidbokeh import store
    from vidbokeh.stages.assets import FACE_DETECTOR, SELFIE_SEGMENTER, model_path

    for model in (FACE_DETECTOR, SELFIE_SEGMENTER):
        model_path(model, progress=False)
    return [p for p in store.home().iterdir() if p.is_file() and ".tflite" in p.name]


@pytest.fixture
def web_home(tmp_path, monkeypatch, _mediapipe_files) -> Path:
    """A fresh $VIDBOKEH_HOME (its own presets folder) that sees the cached MediaPipe models."""
    home = tmp_path / "home"
    home.mkdir()
    for path in _mediapipe_files:
        (home / path.name).symlink_to(path)
    monkeypatch.setenv("VIDBOKEH_HOME", str(home))
    return home


@pytest.fixture
def make_client(web_home, tmp_path):
    """make_client(**server_settings) -> a started in-process TestClient (lifespan run); all closed after."""
    from starlette.testclient import TestClient

    from vidbokeh.web import create_app
    from vidbokeh.web.config import ServerSettings

    clients = []

    def make(**settings):
        settings.setdefault("work_dir", tmp_path)
        app = create_app(ServerSettings(**settings))
        client = TestClient(app, base_url="http://127.0.0.1:8000", raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in reversed(clients):
        client.__exit__(None, None, None)


class RunningServer:
    def __init__(self, process: subprocess.Popen, url: str, log: Path) -> None:
        self.process, self.url, self.log = process, url, log

    def stop(self, timeout: float = 20.0) -> int:
        import signal

        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


def start_server(args: list, home: Path, log: Path, timeout: float = 180.0) -> RunningServer:
    """``vidbokeh serve --port 0 ARGS`` in a subprocess; returns once it printed its URL. Its output goes to
    ``log``."""
    import time

    env = {**os.environ, "PYTHONPATH": str(ROOT), "VIDBOKEH_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "vidbokeh", "serve", "--port", "0", *map(str, args)],
                                   stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(r"http://[0-9.:]+", log.read_text(errors="replace"))
        if match:
            return RunningServer(process, match.group(0), log)
        if process.poll() is not None:
            break
        time.sleep(0.1)  # polling the log for the URL line (a condition), not a fixed wait
    process.kill()
    raise AssertionError(f"the server did not start:\n{log.read_text(errors='replace')}")
