#!/usr/bin/env bash
# Everything issue 11 wants measured on a GPU, in one go (the steps' time limits add up to 510 s, 8.5 minutes):
#   1. the gpu-marked tests: the torch backend on CUDA against OpenCV (PSNR >= 40 dB, protected pixels
#      bit-exact) on the shared portraits and clip frames, and the out-of-memory message; a video session on
#      the device path (depth made, smoothed and kept on the GPU, focus/CoC/mask there) against OpenCV, 300 frames
#      without any growth of GPU memory, and what a smoothed frame sends back (the uint8 frame and the smoother's
#      fit samples, no map) with its synchronising CUDA calls per frame (printed: -rP);
#   2. the renderer alone per backend (tools/bench_render.py, torch on cuda vs opencv);
#   3. the frame path (tools/bench_video.py --device cuda --frame-backend torch): file mode at 720p, 1080p
#      and 2160p, per-stage times (smooth included), and the live clip at 30 and 60 fps;
#   4. the temporal stages alone per backend (bench_video.py --temporal-only: the depth smoother and the live
#      carry, opencv on the host vs torch on the GPU, synchronised), last: the targets above come first.
# On a bare device machine, pack first (here): tools/gpu_pack.sh and tools/gpu_pack.sh --mediapipe (see there).
# MediaPipe does not fit beside PyAV in one call's 64 MiB: a first call carrying only .mpw runs this script, which
# installs it under /tmp on the machine and stops; the next call, carrying .gpu within the machine's 30 s warm
# time, finds it there.
# STEPS=tests,render,video,temporal picks steps; APPROACH_NAME forces the approach; VIDEO_LIMIT the frame path's
# seconds (240).
# Results go to $OUT (the device's result folder) or gpu_check_out/. Run from the repository root.
# A dry run of the same steps on a CPU (checks the script, not the figures):
#   DEVICE=cpu FRAMES=4 SIZES=720p RATES=30 tools/gpu_check.sh
set -u
OUT=${OUT:-gpu_check_out}
FRAMES=${FRAMES:-120}
DEVICE=${DEVICE:-cuda}
SIZES=${SIZES:-720p,1080p,2160p}
RATES=${RATES:-30,60}
PY=${PYTHON:-python3}
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 VIDBOKEH_OFFLINE=1
if [ -d .gpu ]; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/whl/*.whl \
        && export PYTHONPATH=$PWD:/tmp/site
    export VIDBOKEH_SHARED=$PWD/.gpu/shared
fi
MP_SITE=/tmp/mediapipe_site MP_HOME=/tmp/mediapipe_home
if [ -d .mpw ] && [ ! -d .gpu ]; then  # the first of two calls: install MediaPipe for the next one
    for deb in .mpw/gl/*.deb; do dpkg -x "$deb" /; done
    ldconfig
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$MP_SITE" .mpw/*.whl \
        && mkdir -p "$MP_HOME" && cp .mpw/home/* "$MP_HOME/" && echo "MediaPipe installed in $MP_SITE: now carry .gpu"
    exit
fi
if [ -d "$MP_SITE" ]; then  # left there by the first call
    export PYTHONPATH=$PYTHONPATH:$MP_SITE VIDBOKEH_HOME=${VIDBOKEH_HOME:-/tmp/vidbokeh_home}
    mkdir -p "$VIDBOKEH_HOME" && cp "$MP_HOME"/* "$VIDBOKEH_HOME/"
fi
STEPS=${STEPS:-tests,render,video,temporal}
want() { case ",$STEPS," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
mkdir -p "$OUT"
status=0
step() { echo "== $1 ($(date -u +%H:%M:%S))"; }

step "environment"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"; } \
    | tee "$OUT/gpu.txt"
$PY -c "import torch, cv2; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'opencv', cv2.__version__)" \
    | tee -a "$OUT/gpu.txt"
APPROACH=()
$PY -c "import mediapipe" 2>/dev/null || { APPROACH=(--approach depth_anything); echo "no MediaPipe: depth_anything" | tee -a "$OUT/gpu.txt"; }
[ -z "${APPROACH_NAME:-}" ] || APPROACH=(--approach "$APPROACH_NAME")

if want tests; then
step "gpu tests (parity on CUDA, OOM message, the device path through a session, memory)"
timeout 150 $PY -m pytest -q -p no:cacheprovider -m gpu tests/render/test_render_backends.py \
    tests/engine/test_engine_device_path.py -rsP 2>&1 | tee "$OUT/gpu_tests.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
fi

if want render; then
step "renderer per backend"
RENDER_SIZES=$(echo "$SIZES" | sed 's/720p/1280x720/; s/1080p/1920x1080/; s/2160p/3840x2160/')
timeout 75 $PY tools/bench_render.py --sizes "$RENDER_SIZES" --blurs 0.02 \
    --modes uniform,layered,bloom,polygon --backends opencv,torch --device "$DEVICE" --repeats 5 --warmup 2 \
    --json "$OUT/bench_render.json" 2>&1 | tee "$OUT/bench_render.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
fi

if want video; then
step "frame path: file, stages, live"
timeout ${VIDEO_LIMIT:-240} $PY tools/bench_video.py --device "$DEVICE" --frame-backend torch --sizes "$SIZES" \
    --frames "$FRAMES" --realtime --rates "$RATES" --timeout 120 ${APPROACH[@]+"${APPROACH[@]}"} \
    --json "$OUT/bench_video.json" 2>&1 | tee "$OUT/bench_video.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
fi

if want temporal; then
step "temporal stages per backend (smoother, live carry)"
timeout 45 $PY tools/bench_video.py --device "$DEVICE" --temporal-only --sizes "$SIZES" --frames 20 --timeout 40 \
    --json "$OUT/bench_temporal.json" 2>&1 | tee "$OUT/bench_temporal.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
fi

step "done (status $status)"
exit $status
