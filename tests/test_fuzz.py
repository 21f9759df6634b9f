"""Fuzz (issue 6): seeded random corruptions of a tiny clip through `vidbokeh file`.

240 cases: bit flips, truncations and spliced headers/chunks, of an MP4 (index at the end) and an MKV, each
64x48, 10 frames, with an AAC track. Every run goes through ``vidbokeh.cli.run`` in a worker thread with a
time guard: it must end within ``CASE_TIMEOUT_S`` with exit 0 (and a playable output holding the frames it
reports) or a clean error (3 bad input, 5 output; exactly one error line, no traceback, nothing left behind).
The outcome counts are printed by the last test (``-s`` shows them). ``VIDBOKEH_FUZZ_SEEDS=N`` runs N seeds
per kind and container instead of 40.
"""
from __future__ import annotations

import collections
import faulthandler
import io
import os
import random
import re
import sys
import threading
from contextlib import redirect_stderr
from pathlib import Path

import pytest

from media_factory import decoded_video, make_clip
from vidbokeh.cli import run

KINDS = ("bitflip", "truncate", "splice")
CONTAINERS = (".mp4", ".mkv")
SEEDS_PER_KIND = int(os.environ.get("VIDBOKEH_FUZZ_SEEDS", "40"))  # more for a deeper local run
CASE_TIMEOUT_S = 30.0  # a clean run takes well under a second; this only catches hangs
CLEAN_CODES = {0, 3, 5}

OUTCOMES: collections.Counter = collections.Counter()


@pytest.fixture(scope="module")
def originals(tmp_path_factory) -> dict[str, bytes]:
    d = tmp_path_factory.mktemp("fuzz-originals")
    return {suffix: make_clip(d / f"clip{suffix}", width=64, height=48, frames=10, gop=5).read_bytes()
            for suffix in CONTAINERS}


def corrupt(data: bytes, other: bytes, kind: str, rng: random.Random) -> bytes:
    """One seeded corruption of ``data``; ``other`` is the same clip in the other container."""
    buf = bytearray(data)
    n = len(buf)
    if kind == "bitflip":
        for _ in range(rng.choice((1, 2, 4, 8, 32, 128))):
            i = rng.randrange(n)
            buf[i] ^= 1 << rng.randrange(8)
        return bytes(buf)
    if kind == "truncate":
        return bytes(buf[: rng.randrange(1, n)])
    # splice: a header grafted from elsewhere, or the file's own chunks moved around
    how = rng.randrange(4)
    if how == 0:  # the other container's header on this body
        k = rng.randrange(16, min(len(other), n) // 2)
        return bytes(other[:k] + buf[k:])
    if how == 1:  # a copy of our own header inserted in the middle
        k, at = rng.randrange(8, n // 3), rng.randrange(n)
        return bytes(buf[:at] + buf[:k] + buf[at:])
    if how == 2:  # two chunks swapped
        size = rng.randrange(16, n // 4)
        a, b = sorted(rng.sample(range(0, n - size), 2))
        if b < a + size:
            b = min(n - size, a + size)
        chunk_a, chunk_b = bytes(buf[a:a + size]), bytes(buf[b:b + size])
        buf[a:a + size], buf[b:b + size] = chunk_b, chunk_a
        return bytes(buf)
    # a stretch of the middle dropped (a broken download that resumed at the wrong place)
    a = rng.randrange(n // 8, n // 2)
    return bytes(buf[:a] + buf[a + rng.randrange(1, n // 4):])


CASES = [(suffix, kind, seed) for suffix in CONTAINERS for kind in KINDS for seed in range(SEEDS_PER_KIND)]


def _run_guarded(args: list[str]) -> tuple[int | None, str]:
    """(exit code or None on a hang, stderr) of run(args) in a worker thread with a time guard."""
    result: dict[str, object] = {}
    err = io.StringIO()

    def target() -> None:
        try:
            result["code"] = run(args)
        except BaseException as exc:  # run() must never raise: record it for the assertion
            result["raised"] = exc

    with redirect_stderr(err):
        worker = threading.Thread(target=target, name="fuzz-case", daemon=True)
        worker.start()
        worker.join(CASE_TIMEOUT_S)
    if worker.is_alive():
        faulthandler.dump_traceback(file=sys.__stderr__)  # show where it hangs
        return None, err.getvalue()
    assert "raised" not in result, f"run() raised {result.get('raised')!r}"
    return int(result["code"]), err.getvalue()  # type: ignore[arg-type]


@pytest.mark.parametrize("suffix, kind, seed", CASES, ids=[f"{s[1:]}-{k}-{n}" for s, k, n in CASES])
def test_corrupted_clip_ends_cleanly(originals, tmp_path: Path, suffix: str, kind: str, seed: int):
    rng = random.Random(f"{suffix}-{kind}-{seed}")
    other = originals[".mkv" if suffix == ".mp4" else ".mp4"]
    src = tmp_path / f"fuzz{suffix}"
    src.write_bytes(corrupt(originals[suffix], other, kind, rng))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "out.mp4"
    code, err = _run_guarded(["file", str(src), str(out), "--approach", "selfie"])
    assert code is not None, f"hang: no result within {CASE_TIMEOUT_S} s\n{err[-2000:]}"
    OUTCOMES[code] += 1
    OUTCOMES[f"{kind}:{code}"] += 1
    assert "Traceback" not in err
    assert code in CLEAN_CODES, err[-2000:]
    assert [t.name for t in threading.enumerate() if t.name.startswith("vidbokeh-")] == []
    lines = err.replace("\r", "\n").splitlines()
    if code == 0:
        summary = [ln for ln in lines if "frames written to" in ln][-1]
        reported = int(re.search(r"(\d+) frames written", summary).group(1))
        pts, _, _ = decoded_video(out)
        assert len(pts) == reported >= 1
        assert sorted(p.name for p in out_dir.iterdir()) == ["out.mp4"]
    else:
        errors = [ln for ln in lines if ln.startswith("vidbokeh: error")]
        assert len(errors) == 1, errors
        assert str(src) in errors[0] or str(out) in errors[0]
        assert [p.name for p in out_dir.iterdir() if "partial" in p.name] == []


def test_fuzz_outcome_summary():
    """Runs last: the corpus exercised both outcomes (not everything trivially rejected or accepted)."""
    total = sum(v for k, v in OUTCOMES.items() if isinstance(k, int))
    if total < len(CASES):
        pytest.skip("only part of the fuzz corpus ran")
    print("\nfuzz outcomes:", dict(sorted(OUTCOMES.items(), key=str)))
    assert OUTCOMES[0] >= 0.1 * total and OUTCOMES[3] >= 0.1 * total
