#!/usr/bin/env bash
# Packs, HERE, what tools/gpu_check.sh needs on a bare GPU machine (no network, python3 with torch, no PyAV or
# MediaPipe) into .gpu/ (git-ignored), to be carried with the working tree (64 MiB per call at most):
#   .gpu/shared  the samples and the reference spec the parity tests and benchmarks read (about 7 MB)
#   .gpu/home    the MediaPipe models from $VIDBOKEH_HOME (fetch them first: vidbokeh models fetch mediapipe)
#   .gpu/whl     PyAV's wheel for the device's Python 3.12, and MediaPipe's when it still fits
# Then, on the device:  run(command="tools/gpu_check.sh", carry=[".gpu"], timeout_s=540)
set -eu
DEST=.gpu
SHARED=${VIDBOKEH_SHARED:-../shared}
STORE=${VIDBOKEH_HOME:-$HOME/.cache/vidbokeh}
PY=${PYTHON:-python3}
LIMIT_MB=${LIMIT_MB:-58}
exclude=$(git rev-parse --git-path info/exclude)
grep -qx '/.gpu/' "$exclude" 2>/dev/null || echo '/.gpu/' >>"$exclude"
rm -rf "$DEST"
mkdir -p "$DEST/shared/samples/videos" "$DEST/shared/reference" "$DEST/home" "$DEST/whl"
cp -r "$SHARED/samples/images" "$SHARED/samples/portraits" "$DEST/shared/samples/"
cp "$SHARED/samples/videos/sam2_juggle.mp4" "$SHARED/samples/videos/davis2016_breakdance.mp4" "$DEST/shared/samples/videos/"
cp -r "$SHARED/reference/dav2_vits" "$SHARED/reference/synth_weights.py" "$DEST/shared/reference/"
cp "$STORE"/mediapipe_* "$DEST/home/" 2>/dev/null || echo "no MediaPipe models in $STORE: the frame path runs depth_anything"
wheel() {  # NAME==VERSION for CPython 3.12 on x86-64 Linux
    $PY -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d "$DEST/whl" "$1"
}
version() { $PY -c "import importlib.metadata as m; print(m.version('$1'))"; }
wheel "av==$(version av)"
before=$(ls "$DEST/whl")
wheel "mediapipe==$(version mediapipe)" || true
if [ "$(du -sm "$DEST" | cut -f1)" -gt "$LIMIT_MB" ]; then
    for f in "$DEST"/whl/*; do case " $before " in *" $(basename "$f") "*) ;; *) rm -f "$f" ;; esac; done
    echo "MediaPipe's wheel left out (over ${LIMIT_MB} MB): the frame path runs depth_anything (Haar faces)"
fi
du -sh "$DEST"; ls "$DEST/whl"
