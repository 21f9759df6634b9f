"""The command line's arguments: the parser of every command and the reading of deprecated spellings.

Choices and ranges come from the settings that own them (engine/settings.py, encoder_settings.py, the
presets table); argument types here only parse text. Building the parser loads neither torch, MediaPipe
nor OpenCV, so ``--help`` and ``models list`` start fast.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from . import __version__
from .depth.runtimes import RUNTIMES
from .engine.settings import APPROACHES, DEVICES, FRAME_BACKENDS, strategy_names
from .errors import UsageError

EXPORT_RUNTIMES = tuple(r for r in RUNTIMES if r not in ("auto", "torch"))  # the runtimes of an exported graph


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError (one line, exit 2) instead of printing usage and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


# Arguments that become EffectSettings are only parsed here; their ranges are checked by the settings
# (engine/settings.py and the stage settings it builds), the one owner of each check.

def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text}")
    return value


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def _positive_int(text: str) -> int:
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


def _point(text: str) -> tuple[float, float]:
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected x,y, got {text!r}") from None
    return x, y


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    if w < 1 or h < 1:
        raise argparse.ArgumentTypeError(f"expected a positive size, got {text!r}")
    return w, h


def _add_device_arguments(g, *, camera_too: bool = False) -> None:
    """``--device`` (where the models run) and its deprecated alias ``--accelerator``.

    ``camera_too``: webcam's ``--device`` also takes a camera, as it did before ``--camera`` (see
    ``settle_device``), so argparse cannot restrict it to the devices there."""
    choices = "{" + ",".join(DEVICES) + "}"
    g.add_argument("--device", default=None, choices=None if camera_too else DEVICES, metavar=choices,
                   help="where the models run: " + ", ".join(DEVICES) + " (default: auto, a GPU when there is one)")
    g.add_argument("--accelerator", default=None, choices=DEVICES, help=argparse.SUPPRESS)


def settle_device(args: argparse.Namespace) -> list[str]:
    """The deprecated spellings read as today's (``--accelerator X`` is ``--device X``; webcam's ``--device``
    naming a camera is ``--camera``), with one note for each; ``args.device`` is a device afterwards."""
    notes = []
    if getattr(args, "accelerator", None) is not None:
        if args.device is not None and args.device != args.accelerator:
            raise UsageError(f"--accelerator {args.accelerator} and --device {args.device} disagree: "
                             "give --device only")
        notes.append(f"--accelerator is deprecated: use --device {args.accelerator}")
        args.device = args.accelerator
    if hasattr(args, "camera") and args.device is not None and args.device not in DEVICES:
        if args.camera is not None:
            raise UsageError(f"--device {args.device!r} is not a device ({', '.join(DEVICES)}); "
                             f"the camera is --camera {args.camera!r}")
        notes.append(f"--device for the camera is deprecated: use --camera {args.device}")
        args.camera, args.device = args.device, None
    if hasattr(args, "device") and args.device is None:
        args.device = "auto"
    return notes


def _max_blur_help() -> str:
    """--max-blur's range and default, from their owners (FocusSettings' check, the default strategy)."""
    from .stages.focus import MAX_BLUR_RANGE
    from .stages.presets import DEFAULT_PRESET, PRESETS

    low, high = MAX_BLUR_RANGE
    return (f"largest blur radius as a fraction of the image diagonal, {low:g}..{high:g} "
            f"(default: {PRESETS[DEFAULT_PRESET].focus.max_blur:g} with {DEFAULT_PRESET}; each strategy has its own)")


def _add_effect_arguments(p: argparse.ArgumentParser, *, camera_device: bool = False) -> None:
    """The effect's arguments, shared by every command that renders (image, file, webcam, batch, ...)."""
    from .depth.registry import DEFAULT_MODELS, VARIANT_NAMES

    g = p.add_argument_group("effect")
    g.add_argument("--preset", default=None, metavar="NAME|FILE",
                   help="start from a saved preset (or a preset file); flags given here override it")
    g.add_argument("--approach", choices=APPROACHES, default="auto",
                   help="auto (default): hybrid with Depth-Anything when its weights are cached or given, "
                        "else selfie")
    g.add_argument("--model", choices=VARIANT_NAMES, default=None, metavar="VARIANT",
                   help="depth model variant (defaults: " + ", ".join(f"{k}={v}" for k, v in DEFAULT_MODELS.items())
                        + "); see `vidbokeh models list`")
    g.add_argument("--weights", type=Path, default=None, help="depth weights file (instead of the cache)")
    _add_device_arguments(g, camera_too=camera_device)
    g.add_argument("--runtime", choices=RUNTIMES, default="torch",
                   help="what runs the depth model: torch (default), onnxruntime or openvino (pip extras [onnx], "
                        "[openvino]), or auto: the fastest installed, measured once per model and input size")
    g.add_argument("--frame-backend", choices=FRAME_BACKENDS, default="auto",
                   help="how the frame is blurred: torch (on --device) or opencv (on the CPU); "
                        "default auto: torch on cuda/mps, opencv on the CPU")
    g.add_argument("--strategy", choices=strategy_names(), default="portrait",
                   help="blur strategy; portrait (default) is continuous depth-of-field")
    focus = g.add_mutually_exclusive_group()
    focus.add_argument("--focus", type=_number, default=None, metavar="X",
                       help="focus plane as 0..1 of the depth range (default: on the main face)")
    focus.add_argument("--focus-point", type=_point, default=None, metavar="X,Y",
                       help="focus on this pixel (or 0..1 fractions of the image)")
    g.add_argument("--max-blur", type=_number, default=None, metavar="F", help=_max_blur_help())
    g.add_argument("--dof", type=_number, default=None, metavar="F",
                   help="half-width of the sharp depth-of-field band (0..1 of the depth range)")
    g.add_argument("--blur-foreground", action="store_true", help="also blur what is nearer than the subject")
    g.add_argument("--aperture-blades", type=_whole, default=None, metavar="N",
                   help="polygonal aperture with N blades (default: circular)")
    g.add_argument("--highlight-bloom", action="store_true", help="blur in linear light so highlights bloom")
    g.add_argument("--depth-size", type=_whole, default=None, metavar="PX",
                   help="depth network input size (default: the model's own; video: reduced)")


def build_parser() -> argparse.ArgumentParser:
    from .depth.registry import VARIANT_NAMES

    parser = _Parser(prog="vidbokeh", description="Depth-aware portrait bokeh for photos, video files and webcams.")
    parser.add_argument("--version", action="version", version=f"vidbokeh {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    # --debug is accepted after the subcommand too (vidbokeh image x.jpg --debug)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")

    img = sub.add_parser("image", parents=[common], help="blur the background of photos")
    img.add_argument("inputs", nargs="+", type=Path, help="image files or folders")
    img.add_argument("-o", "--output", type=Path, default=None,
                     help="output file (one input) or folder (default: NAME_bokeh.EXT beside the input)")
    img.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    img.add_argument("--save-depth", action="store_true", help="also write NAME_depth.png and NAME_depth16.png")
    img.add_argument("--save-mask", action="store_true", help="also write NAME_mask.png (255 = kept sharp)")
    img.add_argument("--timings", action="store_true", help="print a per-stage time table")
    _add_effect_arguments(img)

    vid = sub.add_parser("file", parents=[common], help="re-encode a video with the effect (audio, timing and metadata kept)")
    vid.add_argument("input", type=Path, help="video file to read (never modified)")
    vid.add_argument("output", type=Path,
                     help="video file to write (.mp4, .mov, .mkv, .webm...); written beside under a temporary "
                          "name and renamed when complete")
    vid.add_argument("--overwrite", action="store_true", help="replace the output if it exists")
    _add_video_arguments(vid)
    _add_encoder_arguments(vid)
    _add_effect_arguments(vid)

    cam = sub.add_parser("webcam", parents=[common], help="live effect from a camera to a preview window, a file or a virtual camera")
    cam.add_argument("--camera", default=None, metavar="CAMERA",
                     help="the camera: a device (/dev/video0, an avfoundation index, a dshow name), a lavfi "
                          "graph or a video file (default: the platform's first camera)")
    cam.add_argument("--input-format", default=None, help="PyAV/FFmpeg input format (v4l2, avfoundation, dshow, lavfi)")
    cam.add_argument("--size", type=_size, default=None, metavar="WxH", help="frame size: asked of the camera; other sizes are scaled to it")
    cam.add_argument("--fps", type=_positive_float, default=None, help="camera frame rate (a lavfi graph or a file has its own)")
    cam.add_argument("--output", type=Path, default=None, help="also record to this file")
    cam.add_argument("--overwrite", action="store_true", help="replace the recording if it exists")
    cam.add_argument("--no-preview", action="store_true", help="no preview window")
    cam.add_argument("--virtual-camera", action="store_true", help="send frames to a virtual camera (pyvirtualcam)")
    stop = cam.add_mutually_exclusive_group()
    stop.add_argument("--frames", type=_positive_int, default=None, help="stop after N frames")
    stop.add_argument("--seconds", type=_positive_float, default=None, help="stop after S seconds")
    cam.add_argument("--realtime", action="store_true", help="play a file or lavfi source at its own rate, like a camera (default: every frame, at processing speed)")
    _add_video_arguments(cam)
    _add_encoder_arguments(cam)
    _add_effect_arguments(cam, camera_device=True)

    cmp_ = sub.add_parser("compare", parents=[common], help="run several approaches side by side on stills and write a report")
    cmp_.add_argument("inputs", nargs="+", type=Path, help="photos or folders of photos")
    cmp_.add_argument("--out", type=Path, required=True, help="report folder")
    cmp_.add_argument("--approaches", default="depth_anything,midas,selfie,hybrid",
                      help="comma list; each may name a model: depth_anything=depth_anything_v2_vitb")
    cmp_.add_argument("--strategies", default="portrait", help="comma list of " + ", ".join(strategy_names()))
    cmp_.add_argument("--weights", action="append", default=[], metavar="APPROACH=PATH",
                      help="weights file for an approach (repeatable)")
    cmp_.add_argument("--weights-note", action="append", default=[], metavar="APPROACH=NOTE",
                      help="a note printed on every figure of that approach (e.g. synthetic)")
    cmp_.add_argument("--masks", type=Path, default=None, help="folder of person masks matched by file stem")
    cmp_.add_argument("--depth", type=Path, default=None, help="folder of ground-truth depth PNGs matched by stem")
    cmp_.add_argument("--depth-scale", type=float, default=1000.0,
                      help="depth PNG value per metre (default 1000: millimetres; TUM: 5000)")
    _add_device_arguments(cmp_)
    cmp_.add_argument("--max-blur", type=_number, default=None, metavar="F",
                      help=_max_blur_help() + "; the same for every approach")
    cmp_.add_argument("--preset", default=None, metavar="NAME|FILE",
                      help="the look every approach shares (blur, depth of field, aperture...) from a preset")

    srv = sub.add_parser("serve", parents=[common], help="the web studio: photos, presets, video jobs, live camera")
    srv.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    srv.add_argument("--port", type=_whole, default=8000, help="port (default: 8000; 0 = any free port)")
    srv.add_argument("--max-upload-mb", type=_positive_float, default=50.0, metavar="MB",
                     help="largest upload (default: 50); larger ones are refused with 413")
    _add_device_arguments(srv)
    srv.add_argument("--weights", type=Path, default=None, help="a depth weights file the server uses for --model")
    srv.add_argument("--model", choices=VARIANT_NAMES, default=None, metavar="VARIANT",
                     help="the variant --weights holds (default: Depth-Anything V2 ViT-S)")
    srv.add_argument("--work-dir", type=Path, default=None,
                     help="folder for uploads and job outputs (default: a temporary folder, removed at exit)")

    _add_batch_parser(sub, common)

    mdl = sub.add_parser("models", parents=[common], help="list, fetch and locate model weights")
    msub = mdl.add_subparsers(dest="models_command", metavar="ACTION", parser_class=_Parser)
    msub.add_parser("list", parents=[common], help="every depth variant: family, parameters, licence, cached or not")
    fetch = msub.add_parser("fetch", parents=[common], help="download weights into the cache")
    fetch.add_argument("names", nargs="+", help="variant names, or 'mediapipe' for the detector models")
    path = msub.add_parser("path", parents=[common], help="print where a variant's weights are (or go) in the cache")
    path.add_argument("name")
    export = msub.add_parser("export", parents=[common],
                             help="build a variant's graph for an inference runtime ahead of time (cached)")
    export.add_argument("name", metavar="VARIANT")
    export.add_argument("--runtime", required=True, choices=EXPORT_RUNTIMES, help="the runtime to export for")
    export.add_argument("--size", type=_positive_int, default=None, metavar="PX",
                        help="depth input size it will run at (default: the model's own; see --depth-size)")
    export.add_argument("--frame", type=_size, default=None, metavar="WIDTHxHEIGHT",
                        help="size of the frames it will see (default: square); sets the input's aspect ratio")
    export.add_argument("--weights", type=Path, default=None, help="depth weights file (instead of the cache)")
    return parser


def _add_batch_parser(sub, common: argparse.ArgumentParser) -> None:
    bat = sub.add_parser("batch", parents=[common],
                         help="many photos and videos into one folder, on this machine or a Ray cluster")
    bat.add_argument("inputs", nargs="+", help="files, folders or glob patterns (quoted), photos and videos mixed")
    bat.add_argument("--out", type=Path, required=True,
                     help="output folder: mirrors the input tree, holds manifest.jsonl (a rerun skips what is done)")
    bat.add_argument("--engine", choices=("local", "ray"), default="local",
                     help="local (default): this process; ray: Ray workers (the [ray] extra)")
    bat.add_argument("--ray-address", default=None, metavar="ADDR",
                     help="join this Ray cluster (default: start a private Ray instance on this machine)")
    bat.add_argument("--workers", type=_positive_int, default=None, metavar="N",
                     help="Ray workers (default: one per GPU, else one per two CPUs)")
    bat.add_argument("--segment-seconds", type=_positive_float, default=60.0, metavar="S",
                     help="videos longer than this are cut at keyframes into segments processed in parallel "
                          "(default: 60)")
    _add_video_arguments(bat)
    _add_encoder_arguments(bat)
    _add_effect_arguments(bat)


def _add_video_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("video")
    g.add_argument("--depth-every", type=_whole, default=1, metavar="N",
                   help="run depth every N frames, reusing the latest map in between")
    g.add_argument("--smoothing", type=_number, default=None, metavar="S",
                   help="temporal depth smoothing strength 0..1 (0 = off)")
    g.add_argument("--keep-everyone", action="store_true",
                   help="without depth, keep every person sharp (default: still bystanders behind a clear main "
                        "subject who moves are blurred)")


def _add_encoder_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("encoder")
    g.add_argument("--codec", default=None, help="video encoder (default: libx264; libvpx-vp9 for .webm)")
    from .encoder_settings import CRF_RANGE, ENCODER_PRESETS, EncoderSettings

    default = EncoderSettings()
    g.add_argument("--crf", type=_whole, default=default.crf, metavar="%d..%d" % CRF_RANGE,
                   help=f"constant rate factor, lower is better (default: {default.crf})")
    g.add_argument("--encoder-preset", choices=ENCODER_PRESETS, default=default.preset, metavar="PRESET",
                   help="encoder speed preset: " + ", ".join(ENCODER_PRESETS) + f" (default: {default.preset})")


def explicit_fields(argv: list[str], command: str) -> set[str]:
    """The EffectSettings fields given on the command line (not left at their defaults): what overrides a
    preset. Found by parsing again with every default suppressed; --accelerator is --device, and a webcam's
    --device naming a camera (not one of DEVICES) is the camera, not a field."""
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices[command]  # noqa: SLF001 (argparse has no API for it)
    fields: dict[str, str | None] = {}
    for action in sub._actions:  # noqa: SLF001
        action.default = argparse.SUPPRESS
        fields[action.dest] = "device" if action.dest == "accelerator" else action.dest
    given = vars(parser.parse_args(argv))
    if given.get("device", DEVICES[0]) not in DEVICES:
        del given["device"]
    return {fields[dest] for dest in given if fields.get(dest)}
