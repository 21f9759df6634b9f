"""Conformance of the depth models on an accelerator, and the cost of half precision.

For each reference folder (see tests/test_depth_conformance.py): loads the synthetic weights
through ``create_depth_model`` on --device, and reports max|out - ref| / max|ref| for the network
output and the end-to-end ``predict`` in float32 (TF32 off), then for ``predict`` under fp16 and
bf16 autocast, plus ms per ``predict`` of the 256x256 reference image in each precision.

    python tools/check_depth_device.py --reference ../shared/reference --device cuda --json out.json
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "depth"))

from test_depth_conformance import FOLDERS, official_state_dict, relative_error  # noqa: E402

from vidbokeh.depth import DepthModel, create_depth_model, get_variant  # noqa: E402
from vidbokeh.depth.runner_torch import TorchRunner  # noqa: E402


def _timed(fn, repeats: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def check(reference: Path, folder: str, device: str) -> dict:
    name = FOLDERS[folder]
    ref = reference / folder
    meta = json.loads((ref / "meta.json").read_text())
    target = int(meta["pipeline"]["resize"]["target"][0])
    size = None if target == get_variant(name).input_size else target
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "weights.pt"
        torch.save(official_state_dict(reference, folder), path)
        model = create_depth_model(name, weights=path, device=device, precision="fp32")
    x = torch.from_numpy(np.load(ref / "net_input.npy")).to(model.device)
    with torch.inference_mode():
        net_out = model.net(x).float().cpu().numpy()
    image = np.load(ref / "image.npy")
    pipeline_ref = np.load(ref / "pipeline_output.npy")
    rec = {
        "folder": folder,
        "variant": name,
        "rtol": meta["suggested_tolerance"]["rtol"],
        "net_fp32": relative_error(net_out, np.load(ref / "net_output.npy")),
        "predict_fp32": relative_error(model.predict(image, input_size=size), pipeline_ref),
        "ms_fp32": _timed(lambda: model.predict(image, input_size=size)),
    }
    for precision in ("fp16", "bf16"):
        for cl in (False, True):
            half = DepthModel(model.variant, TorchRunner(model.net, device=model.device, precision=precision, channels_last=cl))
            tag = precision + ("_cl" if cl else "")
            rec[f"predict_{tag}"] = relative_error(half.predict(image, input_size=size), pipeline_ref)
            rec[f"ms_{tag}"] = _timed(lambda: half.predict(image, input_size=size))
        model.net.to(memory_format=torch.contiguous_format)
    rec["pass_fp32"] = rec["net_fp32"] <= rec["rtol"] and rec["predict_fp32"] <= rec["rtol"]
    return rec


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", default=str(ROOT.parent / "shared" / "reference"))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--folders", help="comma-separated reference folders (default all)")
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args()
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    folders = args.folders.split(",") if args.folders else sorted(FOLDERS)
    records = []
    for folder in folders:
        try:
            rec = check(Path(args.reference), folder, args.device)
        except Exception as exc:  # noqa: BLE001 - report and go on with the next folder
            rec = {"folder": folder, "error": f"{type(exc).__name__}: {exc}"}
        records.append(rec)
        print(json.dumps(rec), flush=True)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(records, indent=1))
    return 0 if all(r.get("pass_fp32") for r in records) else 1


if __name__ == "__main__":
    raise SystemExit(main())
