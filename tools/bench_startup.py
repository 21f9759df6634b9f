"""Start-up cost of the commands a new user runs first: wall time and which heavy modules each imports.

Each case runs `python -m vidbokeh ...` in a fresh process (--repeats times; the median is shown) with
`VIDBOKEH_HOME` as given (default: the usual store); each run also records which heavy packages it
imported (torch, timm, mediapipe, cv2, av). Cases:

    models list                  the variant table (torch-free)
    image, output exists         a refused output: checked before anything loads
    image auto (-> selfie)       auto with no depth weights cached: the selfie path, no torch
    image --approach selfie      the same photo with the approach named

    python tools/bench_startup.py --image samples/obama_official_portrait.jpg --repeats 3

Figures depend on the machine and its load: compare the cases of one run (the `rel` column is the
case's median over that of `image --approach selfie`), and report `uptime` with them.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "timm", "mediapipe", "cv2", "av")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


# Runs the CLI's own entry point and, at exit, writes which heavy packages were imported to argv[1].
_PROBE = ("import atexit, sys\n"
          "out = sys.argv.pop(1)\n"
          "heavy = " + repr(HEAVY) + "\n"
          "atexit.register(lambda: open(out, 'w').write(' '.join(h for h in heavy if h in sys.modules)))\n"
          "from vidbokeh.cli import main\n"
          "main(sys.argv[1:])\n")


def _run(args: list[str], record: Path) -> tuple[float, int, list[str]]:
    """(wall seconds, exit code, heavy packages imported) of one `vidbokeh ARGS` in a fresh process."""
    t0 = time.perf_counter()
    # cwd=ROOT: `python -c` puts the working folder first on sys.path, and that must be this checkout
    done = subprocess.run([sys.executable, "-c", _PROBE, str(record), *args], env=_env(), capture_output=True,
                          cwd=ROOT)
    seconds = time.perf_counter() - t0
    return seconds, done.returncode, record.read_text().split() if record.is_file() else []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, default=ROOT / "samples" / "obama_official_portrait.jpg")
    parser.add_argument("--repeats", type=int, default=3)
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    try:
        photo = work / f"photo{opts.image.suffix}"
        shutil.copy(opts.image, photo)
        existing = work / f"photo_bokeh{opts.image.suffix}"
        fresh = work / f"fresh{opts.image.suffix}"
        cases = {
            "models list": (["models", "list"], None),
            "image, output exists": (["image", str(photo), "-o", str(existing)], existing),
            "image auto (-> selfie)": (["image", str(photo), "-o", str(fresh), "--overwrite"], None),
            "image --approach selfie": (["image", str(photo), "-o", str(fresh), "--overwrite",
                                         "--approach", "selfie"], None),
        }
        existing.write_bytes(b"already here")
        rows = []
        for name, (args, _) in cases.items():
            times, codes, heavy = [], set(), set()
            for _ in range(opts.repeats):
                seconds, code, imported = _run(args, work / "imported.txt")
                times.append(seconds)
                codes.add(code)
                heavy.update(imported)
            rows.append((name, statistics.median(times), sorted(codes), [h for h in HEAVY if h in heavy]))
        base = next(t for n, t, _, _ in rows if n == "image --approach selfie")
        print(f"{'case':<26} {'median s':>9} {'rel':>5}  exit  heavy imports")
        for name, seconds, codes, heavy in rows:
            print(f"{name:<26} {seconds:9.2f} {seconds / base:5.2f}  {','.join(map(str, codes)):>4}  "
                  f"{' '.join(heavy) or '-'}")
        print(f"load: {os.getloadavg()[0]:.2f} (1 min average), {os.cpu_count()} CPUs")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
