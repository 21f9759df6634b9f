"""Speed of every depth variant on each runtime: ms/frame at 3 input sizes, parameters, peak memory, error vs torch.

Runs on random weights (the architecture decides the cost, not the values), on this CPU or
on CUDA. On the CPU each variant runs in its own subprocess so its peak memory (RSS) is its own; on
CUDA they run in one process (peak allocated memory is reset per size). Each variant's rows
are printed, and the JSON rewritten, as soon as it is measured.

    python tools/bench_depth.py                          # all variants, sizes 1/2, 3/4, 1 x default
    python tools/bench_depth.py --variants depth_anything_v2_vits,midas_dpt_hybrid_384 \
        --sizes 256,384,518 --device cuda --json bench.json
    python tools/bench_depth.py --variants depth_anything_v2_vits --sizes 196,266 --device cpu \
        --threads 2 --runtimes torch,onnxruntime,openvino

Runtimes (``--runtimes``, default torch): each (variant, runtime) runs in its own process on the CPU;
an exported runtime's graph is built (or taken from $VIDBOKEH_HOME's cache) during the warm-up, so the
timing is inference only. ``err`` is max |depth - torch's| / max |torch's| on the same frame.

Timing: ``DepthModel.predict`` (or ``predict_batch`` with --batch N, per frame) end to end (preprocess, network, upsampling back) on a
480x640 frame, median of --repeats after --warmup runs. ``rel`` is ms/frame divided by that of
the first variant listed at the same size slot.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _sizes_for(variant, sizes: list[int] | None) -> list[int]:
    if variant.fixed_input_size:
        return [variant.input_size]
    if sizes:
        return sizes
    m = variant.multiple_of
    return [max(m, round(variant.input_size * f / m) * m) for f in (0.5, 0.75)] + [variant.input_size]


def run_one(name: str, sizes: list[int] | None, device: str, precision: str, repeats: int, warmup: int,
            threads: int | None, batch: int = 1, channels_last: str = "auto", runtime: str = "torch") -> dict:
    import numpy as np
    import torch

    from vidbokeh.depth import DepthModel, get_variant, random_depth_model
    from vidbokeh.depth.model import make_runner

    if threads:
        torch.set_num_threads(threads)
    variant = get_variant(name)
    cl = {"auto": None, "on": True, "off": False}[channels_last]
    model = random_depth_model(name, device=device, precision=precision, channels_last=cl)
    reference = model  # the torch model: the error of another runtime is measured against it
    if runtime != "torch":
        model = DepthModel(variant, make_runner(model.net, variant, runtime, model.device, precision))
    cuda = model.device.type == "cuda"
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    results = []
    for size in _sizes_for(variant, sizes):
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        times = []
        for i in range(warmup + repeats):
            if cuda:
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            if batch == 1:
                model.predict(frame, input_size=size)
            else:
                model.predict_batch([frame] * batch, input_size=size, max_batch=batch)
            if cuda:
                torch.cuda.synchronize()
            if i >= warmup:
                times.append((time.perf_counter() - t0) * 1000 / batch)
        net_h, net_w = model.net_input(frame, size).shape[1:]
        row = {"input_size": size, "net_input": [int(net_h), int(net_w)], "ms_per_frame": statistics.median(times)}
        if runtime != "torch":
            ours, torch_depth = model.predict(frame, input_size=size), reference.predict(frame, input_size=size)
            row["rel_err_vs_torch"] = float(np.abs(ours - torch_depth).max() / np.abs(torch_depth).max())
        if cuda:
            row["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
        results.append(row)
    record = {
        "variant": name,
        "family": variant.family,
        "params": model.num_params,
        "device": str(model.device),
        "device_name": torch.cuda.get_device_name(0) if cuda else platform.processor() or platform.machine(),
        "runtime": model.runner.runtime,
        "precision": model.runner.precision,
        "channels_last": getattr(model.runner, "channels_last", False),
        "batch": batch,
        "threads": torch.get_num_threads(),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "sizes": results,
    }
    del model
    if cuda:
        torch.cuda.empty_cache()
    return record


def format_table(records: list[dict], header: bool = True, base: dict | None = None) -> str:
    """Rows per variant and size; ``rel`` = ms/frame over ``base``'s (default: the first record) at that size slot."""
    head = ["variant", "params", "device", "runtime", "prec", "batch", "size", "net input", "ms/frame", "rel",
            "peak MiB", "err"]
    ref = base if base is not None else (records[0] if records else None)
    rows = []
    for rec in records:
        for slot, r in enumerate(rec["sizes"]):
            ref_ms = ref["sizes"][min(slot, len(ref["sizes"]) - 1)]["ms_per_frame"] if ref else r["ms_per_frame"]
            peak = r.get("peak_gpu_mib", rec["peak_rss_mib"])
            rows.append([
                rec["variant"], f"{rec['params'] / 1e6:.1f}M", rec["device"], rec.get("runtime", "torch"),
                rec["precision"] + ("+cl" if rec["channels_last"] else ""), str(rec["batch"]), str(r["input_size"]),
                f"{r['net_input'][0]}x{r['net_input'][1]}", f"{r['ms_per_frame']:.1f}",
                f"{r['ms_per_frame'] / ref_ms:.2f}", f"{peak:.0f}",
                f"{r['rel_err_vs_torch']:.1e}" if "rel_err_vs_torch" in r else "-",
            ])
    min_widths = [24, 6, 6, 11, 7, 5, 4, 9, 8, 4, 8, 7]  # fixed, so rows printed one variant at a time align
    widths = [max(m, *(len(str(x[i])) for x in [head, *rows])) for i, m in enumerate(min_widths)]
    lines = [head] + rows if header else rows
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", help="comma-separated names (default: all registered)")
    parser.add_argument("--sizes", help="comma-separated input sizes (default: 1/2, 3/4, 1 x each default)")
    parser.add_argument("--device", default="auto", help="cpu | cuda | mps | auto (default auto)")
    parser.add_argument("--precision", default="auto", help="auto | fp32 | fp16 | bf16")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--batch", type=int, default=1, help="frames per predict_batch call (default 1: predict)")
    parser.add_argument("--channels-last", choices=("auto", "on", "off"), default="auto")
    parser.add_argument("--runtimes", default="torch",
                        help="comma-separated: torch, onnxruntime, openvino, auto (default torch)")
    parser.add_argument("--json", dest="json_out", help="write the records as JSON here")
    parser.add_argument("--_runtime", default="torch", help=argparse.SUPPRESS)
    parser.add_argument("--_worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else None

    if args._worker:
        rec = run_one(args._worker, sizes, args.device, args.precision, args.repeats, args.warmup, args.threads,
                      args.batch, args.channels_last, args._runtime)
        print("RESULT " + json.dumps(rec))
        return 0

    from vidbokeh.depth import list_depth_models

    names = args.variants.split(",") if args.variants else list_depth_models()
    in_process = _is_cuda(args.device)  # CUDA peak memory resets per variant; CPU RSS needs a process
    records = []
    jobs = [(n, r) for n in names for r in args.runtimes.split(",")]
    for name, runtime in jobs:
        if in_process:
            try:
                rec = run_one(name, sizes, args.device, args.precision, args.repeats, args.warmup, args.threads,
                              args.batch, args.channels_last, runtime)
            except Exception as exc:  # noqa: BLE001 - report the variant and go on
                print(f"{name} on {runtime}: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
                continue
        else:
            rec = _run_subprocess(name, args, runtime)
            if rec is None:
                continue
        records.append(rec)
        print(format_table([rec], header=not records[:-1], base=records[0]), flush=True)
        if args.json_out:  # written after every variant: a run cut short keeps what it measured
            Path(args.json_out).write_text(json.dumps(records, indent=1))
    return 0 if len(records) == len(jobs) else 1


def _is_cuda(device: str) -> bool:
    if device == "cuda" or device.startswith("cuda:"):
        return True
    if device == "auto":
        import torch

        return torch.cuda.is_available()
    return False


def _run_subprocess(name: str, args: argparse.Namespace, runtime: str = "torch") -> dict | None:
    cmd = [sys.executable, __file__, "--_worker", name, "--_runtime", runtime, "--device", args.device,
           "--precision", args.precision,
           "--repeats", str(args.repeats), "--warmup", str(args.warmup), "--batch", str(args.batch),
           "--channels-last", args.channels_last]
    if args.sizes:
        cmd += ["--sizes", args.sizes]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
    line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        print(f"{name}: failed\n{proc.stderr.strip()[-2000:]}", file=sys.stderr)
        return None
    return json.loads(line[len("RESULT "):])


if __name__ == "__main__":
    raise SystemExit(main())
