"""vidbokeh/allocator.py: the CLI keeps frame-sized blocks in the process, unless the environment chose otherwise."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from vidbokeh.allocator import keep_frame_blocks

_PROBE = """
import sys
from vidbokeh.allocator import keep_frame_blocks
done = keep_frame_blocks(mmap_threshold=int(sys.argv[1]), trim_threshold=int(sys.argv[1]) * 4)
print(done)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_the_thresholds_are_set_on_glibc_and_an_environments_own_choice_is_kept(monkeypatch) -> None:
    # a fresh process each time: the thresholds are the whole process's
    done = subprocess.run([sys.executable, "-c", _PROBE, str(32 << 20)], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "True"
    kept = subprocess.run([sys.executable, "-c", _PROBE, str(32 << 20)], capture_output=True, text=True, check=True,
                          env={**os.environ, "MALLOC_TRIM_THRESHOLD_": "1048576"})
    assert kept.stdout.strip() == "False"
    monkeypatch.setattr(sys, "platform", "darwin")
    assert keep_frame_blocks() is False
