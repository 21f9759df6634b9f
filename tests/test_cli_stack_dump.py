"""`kill -USR1` on a running vidbokeh prints every thread's stack to stderr, and the run goes on.

What a run that seems stuck is doing, asked without stopping it (the CLI sends native libraries' fd 2 to
/dev/null, so the dump must go to the stderr the user sees).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cli_helpers import progress_reader
from media_factory import decoded_video, make_clip

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="SIGUSR1 is a POSIX signal")


def test_sigusr1_prints_the_threads_stacks_and_the_run_goes_on(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", width=160, height=120, frames=300, gop=30)
    out = tmp_path / "out.mp4"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "vidbokeh", "file", str(clip), str(out), "--approach", "selfie"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    try:
        progress, collected = threading.Event(), []
        # a frame done: the pipeline's threads run, the handler is in place
        reader = threading.Thread(target=progress_reader, args=(proc.stderr, progress, 1, collected), daemon=True)
        reader.start()
        assert progress.wait(timeout=240), "no progress seen"
        assert proc.poll() is None, "finished before the signal: make the clip longer"
        proc.send_signal(signal.SIGUSR1)
        proc.wait(timeout=240)
        reader.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = "".join(collected)
    assert proc.returncode == 0, err[-2000:]  # the dump did not stop the run
    assert "most recent call first" in err
    assert err.count("Thread 0x") >= 3  # the main thread and the pipeline's
    assert os.path.join("vidbokeh", "pipeline", "") in err  # where each one is, file and line
    assert "300 frames written" in err
    assert len(decoded_video(out)[0]) == 300
