"""What the effect is asked to do: frozen settings that check themselves, and the live controls.

This module is the one owner of the choices (approaches, devices) and of every check on a setting's value;
the CLI, the commands and the compare runner take their choices from here and let these classes refuse a
bad value. Importing it loads neither torch nor OpenCV (checks that need the stage settings import them
when a settings object is built).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..depth.registry import VARIANT_NAMES, family_of
from ..depth.runtimes import RUNTIMES
from ..errors import UsageError
from ..render.ops import FRAME_BACKENDS

# auto: hybrid with Depth-Anything when its weights are cached or given, else selfie (see approach.py)
APPROACHES = ("auto", "depth_anything", "midas", "selfie", "hybrid")
DEPTH_APPROACHES = ("depth_anything", "midas", "hybrid")  # the approaches that load a depth model
DEVICES = ("auto", "cpu", "cuda", "mps")  # where depth runs
APERTURE_BLADES = (3, 16)  # fewest and most blades of a polygonal aperture
DEPTH_STRATEGIES = ("adaptive",)  # strategies defined by the depth map (adaptive splits its histogram)
# Settings that act on a depth map, with the flag that sets them and the value meaning "not given":
# selfie has no depth, so it refuses them rather than ignoring them.
DEPTH_SETTINGS = (("focus", "--focus", None), ("focus_point", "--focus-point", None), ("dof", "--dof", None),
                  ("blur_foreground", "--blur-foreground", None), ("depth_size", "--depth-size", None),
                  ("depth_every", "--depth-every", 1), ("smoothing", "--smoothing", None),
                  ("runtime", "--runtime", "torch"))


@dataclass(frozen=True)
class VideoProfile:
    """What video mode trades for speed per frame (stills keep the full-quality settings).

    The subject stages (faces, people, segmentation, the protection mask) run on a copy no longer than
    ``work_max_side``; the mask is brought back to full size for the blur, so the sharp subject keeps
    its own full-resolution pixels. Faces are found every ``face_every`` frames, people (the pose
    landmarker, ~40 ms of CPU at 640 px) every ``people_every``, and reused in between (a person moves little
    in a few frames; a person's own pose mask is carried to the frames in between along the optical flow, and
    the person mask follows every frame), without the stills' second look at a face's crop. Segmentation runs, as for stills,
    on tiles and on a crop around each person (``segment_tiles``): on the squashed whole frame alone a
    full-body person is mostly lost (docs/benchmarks.md). The mask's guided-filter coefficients and its hole
    search use a copy no longer than ``mask_fit_side`` (the filter is still applied to the working copy's own
    luma).
    """

    work_max_side: int = 640  # 0 = full size
    face_every: int = 3
    people_every: int = 6
    segment_tiles: bool = True
    # In a live stream the person segmentation (tiles and crops: the dearest subject stage, ~30 ms of CPU a 720p
    # frame) runs every ``live_segment_every`` frames; the frames between take its latest map carried to them by
    # optical flow on grey copies no longer than ``depth_flow_side`` (engine/map_carry.py), and a scene cut always
    # gets a fresh one. Files segment every frame (quality first: every 2nd frame moves the breakdance clip's
    # median leak 0.035 -> 0.045, docs/benchmarks.md).
    live_segment_every: int = 2
    mask_fit_side: int = 320
    # Depth on a CPU runs beside the decoder, the encoder and the other stages, and its OpenMP threads spin-wait
    # at every barrier for a core the codec holds, so it leaves one core free (docs/benchmarks.md).
    # None: one core less than the machine has (at least 1).
    cpu_depth_threads: int | None = None
    # Live depth runs beside the frames; its newest map is carried to each frame by optical flow computed on
    # grey copies no longer than this (0: the map as it is). The people's pose masks are carried alike between
    # the frames they are found in (0: used only in the frame they were found in).
    depth_flow_side: int = 160
    # Live depth's map is carried on a copy no longer than this and brought back to the frame's size (0: at the
    # frame's size): a map made at ~200 px and enlarged holds little more than a 640-px copy; at 720p this costs
    # about a quarter of the full-size carry's CPU (docs/benchmarks.md).
    depth_carry_side: int = 640
    # The layered render's spacing in video (a frame is seen for a fraction of a second): layers ``layer_step``
    # px apart for small radii and ``layer_ratio`` apart above (stills: render.settings.BokehSettings' own,
    # 1.0 and 1.4). Fewer layers cost less; the figures against the stills' spacing are in docs/benchmarks.md.
    layer_step: float = 1.5
    layer_ratio: float = 1.6
    # Without depth, who the video is about is told by motion (stages/subject_motion.py): bystanders who keep
    # still behind a clear main subject who moves are blurred. False: everyone stays a subject, as in a photo.
    subject_motion: bool = True
    # Where the picture holds still, the protection mask moves this share of the way to each frame's new one
    # (stages/steady_mask.py): a still bystander's or a still edge's sharpness does not flicker. 1: off.
    steady_mask: float = 0.3

    def __post_init__(self) -> None:
        if not self.layer_ratio > 1.0:
            raise UsageError(f"layer_ratio must be > 1, got {self.layer_ratio}")
        if not self.layer_step > 0.0:
            raise UsageError(f"layer_step must be > 0, got {self.layer_step}")
        if self.depth_carry_side < 0:
            raise UsageError(f"depth_carry_side must be >= 0, got {self.depth_carry_side}")
        if self.depth_flow_side < 0:
            raise UsageError(f"depth_flow_side must be >= 0, got {self.depth_flow_side}")
        if self.work_max_side < 0:
            raise UsageError(f"work_max_side must be >= 0, got {self.work_max_side}")
        if self.face_every < 1:
            raise UsageError(f"face_every must be >= 1, got {self.face_every}")
        if self.live_segment_every < 1:
            raise UsageError(f"live_segment_every must be >= 1, got {self.live_segment_every}")
        if self.people_every < 1:
            raise UsageError(f"people_every must be >= 1, got {self.people_every}")
        if self.mask_fit_side < 16:
            raise UsageError(f"mask_fit_side must be >= 16, got {self.mask_fit_side}")
        if self.cpu_depth_threads is not None and self.cpu_depth_threads < 1:
            raise UsageError(f"cpu_depth_threads must be >= 1, got {self.cpu_depth_threads}")
        if not 0.0 < self.steady_mask <= 1.0:
            raise UsageError(f"steady_mask must be in (0, 1], got {self.steady_mask}")


@dataclass(frozen=True)
class EffectSettings:
    """One effect: the approach, its depth model and how the blur looks. Checked when built."""

    approach: str = "auto"  # one of APPROACHES; resolve_approach() turns "auto" into a concrete one
    model: str | None = None  # depth variant; None = the approach's default
    weights: Path | None = None  # depth weights file instead of the store
    device: str = "auto"  # one of DEVICES
    # what runs the depth network (vidbokeh/depth/runtimes.py): "torch", "onnxruntime", "openvino", or "auto" =
    # the fastest installed for the device, measured once per model and input shape
    runtime: str = "torch"
    # how the frame is blurred (vidbokeh/render): "opencv", "torch" (on the device), or "auto" = torch on a
    # CUDA/MPS device, OpenCV on the CPU (render.ops.resolve_frame_backend)
    frame_backend: str = "auto"
    strategy: str = "portrait"  # a name in stages/presets.py's table
    focus: float | None = None  # 0..1 of the depth range
    focus_point: tuple[float, float] | None = None  # pixels, or fractions of the picture when both <= 1
    max_blur: float | None = None  # fraction of the diagonal; None = the strategy's
    dof: float | None = None
    blur_foreground: bool | None = None
    aperture_blades: int | None = None
    highlight_bloom: bool = False
    depth_size: int | None = None  # None: the model's own for stills, reduced for video
    # Whether these settings are meant for a stream (the front ends record it; batch keeps a photo and a
    # video set side by side). The engine takes the mode from the call: load_models(mode=...), VideoSession.
    video: bool = False
    # video only
    depth_every: int = 1
    smoothing: float | None = None  # None = default strength; 0 = off
    video_profile: VideoProfile = VideoProfile()
    weights_note: str = ""  # e.g. "synthetic": shown wherever figures depend on these weights

    def __post_init__(self) -> None:
        if self.approach not in APPROACHES:
            raise UsageError(f"unknown approach {self.approach!r}; choose from {', '.join(APPROACHES)}")
        if self.device not in DEVICES:
            raise UsageError(f"unknown device {self.device!r}; choose from {', '.join(DEVICES)}")
        if self.runtime not in RUNTIMES:
            raise UsageError(f"unknown depth runtime {self.runtime!r}; choose from {', '.join(RUNTIMES)}")
        if self.frame_backend not in FRAME_BACKENDS:
            raise UsageError(f"unknown frame backend {self.frame_backend!r}; choose from {', '.join(FRAME_BACKENDS)}")
        if self.model is not None:
            if self.model not in VARIANT_NAMES:
                raise UsageError(f"unknown depth model {self.model!r}; see `vidbokeh models list`")
            if self.approach in ("depth_anything", "midas") and family_of(self.model) != self.approach:
                raise UsageError(f"--model {self.model} is not a {self.approach} model")
        if self.approach == "selfie" and (self.model is not None or self.weights is not None):
            raise UsageError("--model/--weights need a depth approach (depth_anything, midas, hybrid)")
        if self.approach == "selfie":
            self.refuse_depth_settings("selfie has none (use --approach hybrid, depth_anything or midas, or run "
                                       "without it)")
        low, high = APERTURE_BLADES
        if self.aperture_blades is not None and not low <= self.aperture_blades <= high:
            raise UsageError(f"--aperture-blades must be between {low} and {high}")
        if self.depth_size is not None and self.depth_size < 1:
            raise UsageError(f"depth_size must be >= 1, got {self.depth_size}")
        if self.depth_every < 1:
            raise UsageError(f"depth_every must be >= 1, got {self.depth_every}")
        # The stages own the ranges of their knobs (focus, max_blur, dof, focus_point, strength): building
        # them checks these settings, with the stages' own messages.
        from .stage_settings import smoothing_settings, stage_settings

        stage_settings(self)
        smoothing_settings(self)


    def refuse_depth_settings(self, why: str) -> None:
        """UsageError naming every setting given here that acts on a depth map, when there will be none (why)."""
        given = [flag for name, flag, unset in DEPTH_SETTINGS if getattr(self, name) != unset]
        if self.strategy in DEPTH_STRATEGIES:
            given.append(f"--strategy {self.strategy}")
        if given:
            raise UsageError(f"{', '.join(given)} {'needs' if len(given) == 1 else 'need'} a depth map, and {why}")


@dataclass(frozen=True)
class LiveControls:
    """Adjustments a live preview makes while running (keys), passed with each frame."""

    blur_scale: float = 1.0  # multiplies the largest blur
    focus_offset: float = 0.0  # added to the focus plane (0..1 of the depth range)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.blur_scale) and self.blur_scale >= 0):
            raise UsageError(f"blur_scale must be >= 0, got {self.blur_scale}")
        if not -1.0 <= self.focus_offset <= 1.0:
            raise UsageError(f"focus_offset must be in [-1, 1], got {self.focus_offset}")


def strategy_names() -> tuple[str, ...]:
    """The strategies, in the order of the presets table (stages/presets.py, their one owner)."""
    from ..stages.presets import PRESETS

    return tuple(PRESETS)
