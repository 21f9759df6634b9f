#!/usr/bin/env python3
"""Speed of the web studio (vidbokeh/web), in process through its HTTP API (Starlette's TestClient, no
network): what a slider change costs, and what the live camera socket sustains.

    python tools/bench_web.py                                    # selfie, 1-MP photo, 640x480 live
    python tools/bench_web.py --approach hybrid --weights W.pt   # a depth approach (weights file for the server)
    python tools/bench_web.py --repeats 20 --live-frames 90

slider: the shared portrait scaled to --megapixels, uploaded once; the first render analyses it (depth,
faces, masks); then --repeats renders with a different blur strength each (what dragging the slider sends).
Reported: the first render, and the median / p90 of the others as measured by the server (``X-Render-Ms``:
focus + render from the cached analysis) and as seen by the client (plus JPEG encode and the HTTP round trip).

live: --live-frames frames of the portrait at 640x480 sent over /api/live one at a time (as the page does);
fps = frames / wall time after the first --live-warmup frames, latency = the median round trip.

The machine is shared: the figures move with its load, shown as ``load`` (1-minute load average); the process
CPU time per change / per frame (``cpu_ms``, all threads, this process only) moves less with it.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _portrait(shared: Path, megapixels: float):
    import cv2
    import numpy as np

    path = shared / "samples" / "images" / "obama_official_portrait.jpg"
    img = cv2.imread(str(path)) if path.is_file() else None
    if img is None:
        rng = np.random.default_rng(0)
        img = (rng.random((1024, 820, 3)) * 255).astype(np.uint8)
    scale = (megapixels * 1e6 / (img.shape[0] * img.shape[1])) ** 0.5
    return cv2.resize(img, (round(img.shape[1] * scale), round(img.shape[0] * scale)), interpolation=cv2.INTER_AREA)


def bench_slider(client, picture, approach: str, repeats: int) -> dict:
    import cv2

    data = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()
    photo = client.post("/api/photos", files={"image": ("bench.jpg", data)}).json()
    url = f"/api/photos/{photo['id']}/render"

    def render(max_blur: float) -> tuple[float, float, float, dict]:
        t0, c0 = time.perf_counter(), time.process_time()
        response = client.post(url, json={"settings": {"approach": approach, "max_blur": max_blur}})
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        if response.status_code != 200:
            raise SystemExit(f"render failed: {response.text}")
        return (float(response.headers["x-render-ms"]), seconds * 1000, cpu * 1000,
                json.loads(response.headers["x-timings"]))

    first = render(0.02)
    server, client_ms, cpu_ms, stages = [], [], [], []
    for i in range(repeats):
        s, c, u, t = render(0.01 + 0.05 * i / max(1, repeats - 1))
        server.append(s)
        client_ms.append(c)
        cpu_ms.append(u)
        stages.append(t)
    keys = sorted({k for t in stages for k in t})
    return {
        "size": f"{picture.shape[1]}x{picture.shape[0]}",
        "first_render_ms": round(first[1], 1),
        "change_server_ms_median": round(statistics.median(server), 1),
        "change_server_ms_p90": round(sorted(server)[int(0.9 * (len(server) - 1))], 1),
        "change_client_ms_median": round(statistics.median(client_ms), 1),
        # CPU time of the whole process (server and client, every thread) per change: moves less with load
        "change_cpu_ms_median": round(statistics.median(cpu_ms), 1),
        "change_stages_ms_median": {k: round(statistics.median(t.get(k, 0.0) for t in stages), 1) for k in keys},
    }


def bench_live(client, picture, approach: str, frames: int, warmup: int) -> dict:
    import cv2

    frame = cv2.resize(picture, (640, 480), interpolation=cv2.INTER_AREA)
    jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()
    trips = []
    with client.websocket_connect("ws://127.0.0.1:8000/api/live") as ws:
        ws.send_json({"type": "start", "settings": {"approach": approach}})
        ready = ws.receive_json()
        if ready.get("type") != "ready":
            raise SystemExit(f"live failed: {ready}")
        for i in range(warmup + frames):
            if i == warmup:
                t_start = time.perf_counter()
                c_start = time.process_time()
            t0 = time.perf_counter()
            ws.send_bytes(jpeg)
            ws.receive_bytes()
            if i >= warmup:
                trips.append((time.perf_counter() - t0) * 1000)
        wall = time.perf_counter() - t_start
        cpu = time.process_time() - c_start
    return {"size": "640x480", "frames": frames, "fps": round(frames / wall, 1),
            "cpu_ms_per_frame": round(cpu / frames * 1000, 1),
            "latency_ms_median": round(statistics.median(trips), 1),
            "latency_ms_p90": round(sorted(trips)[int(0.9 * (len(trips) - 1))], 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--approach", default="selfie")
    parser.add_argument("--live-approach", default="selfie")
    parser.add_argument("--weights", type=Path, default=None, help="depth weights file the server uses")
    parser.add_argument("--model", default=None, help="the variant --weights holds (default: Depth-Anything's)")
    parser.add_argument("--megapixels", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--live-frames", type=int, default=60)
    parser.add_argument("--live-warmup", type=int, default=5)
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("VIDBOKEH_SHARED", ROOT.parent / "shared")))
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()

    from starlette.testclient import TestClient

    from vidbokeh.web import ServerSettings, create_app

    settings = ServerSettings(weights=args.weights, weights_model=args.model)
    picture = _portrait(args.shared, args.megapixels)
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8000") as client:
        report = {"load": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(), "approach": args.approach,
                  "slider": bench_slider(client, picture, args.approach, args.repeats),
                  "live_approach": args.live_approach,
                  "live": bench_live(client, picture, args.live_approach, args.live_frames, args.live_warmup)}
        report["load_after"] = round(os.getloadavg()[0], 2)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
