#!/usr/bin/env bash
# Packs, HERE, what tools/gpu_check.sh needs on a bare GPU machine (no network, python3 with torch and OpenCV 5
# headless, no PyAV or MediaPipe) into folders git ignores, to be carried with the working tree (64 MiB per call):
#   tools/gpu_pack.sh              .gpu: the samples and reference spec the parity tests and benchmarks read
#                                  (about 7 MB) and PyAV's wheel for the device's Python 3.12 (about 36 MB)
#   tools/gpu_pack.sh --mediapipe  .mpw: MediaPipe's wheel, its models from $VIDBOKEH_HOME (fetch them first:
#                                  vidbokeh models fetch mediapipe) and the GL libraries it links (about 52 MB)
# The two do not fit in one call. On the device, within the machine's 30 s warm time of each other:
#   run(command="tools/gpu_check.sh", carry=[".mpw"])  installs MediaPipe there (seconds)
#   run(command="tools/gpu_check.sh", carry=[".gpu"], timeout_s=540)  the checks
# The face detector needs MediaPipe there: that OpenCV has no Haar cascade to fall back on.
set -eu
DEST=.gpu
SHARED=${VIDBOKEH_SHARED:-../shared}
STORE=${VIDBOKEH_HOME:-$HOME/.cache/vidbokeh}
PY=${PYTHON:-python3}
exclude=$(git rev-parse --git-path info/exclude)
grep -qx '/.gpu/' "$exclude" 2>/dev/null || echo '/.gpu/' >>"$exclude"
grep -qx '/.mpw/' "$exclude" 2>/dev/null || echo '/.mpw/' >>"$exclude"
wheel() {  # NAME==VERSION for CPython 3.12 on x86-64 Linux, into $1
    $PY -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d "$1" "$2"
}
version() { $PY -c "import importlib.metadata as m; print(m.version('$1'))"; }
if [ "${1:-}" = "--mediapipe" ]; then
    rm -rf .mpw && mkdir -p .mpw/home .mpw/gl
    wheel .mpw "mediapipe==$(version mediapipe)"
    cp "$STORE"/mediapipe_*.tflite "$STORE"/mediapipe_*.sha256 .mpw/home/  # the pose bundle is rebuilt there
    lists=$(mktemp -d) && mkdir -p "$lists/partial"
    apt="-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=$lists"
    apt-get $apt update -qq && (cd .mpw/gl && apt-get $apt download libegl1 libgles2 libglvnd0 libgl1 libglx0 libopengl0)
    du -sh .mpw; exit
fi
rm -rf "$DEST"
mkdir -p "$DEST/shared/samples/videos" "$DEST/shared/reference" "$DEST/whl"
cp -r "$SHARED/samples/images" "$SHARED/samples/portraits" "$DEST/shared/samples/"
cp "$SHARED/samples/videos/sam2_juggle.mp4" "$SHARED/samples/videos/davis2016_breakdance.mp4" "$DEST/shared/samples/videos/"
cp -r "$SHARED/reference/dav2_vits" "$SHARED/reference/synth_weights.py" "$DEST/shared/reference/"
wheel "$DEST/whl" "av==$(version av)"
du -sh "$DEST"; ls "$DEST/whl"
