"""Settings and results of a comparison, as frozen dataclasses."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .depth_metrics import DepthFigures

QUALITY_FIELDS = ("fg_psnr", "bg_energy", "sharp_iou", "leak")
STAGE_ORDER = ("depth", "smooth", "faces", "segment", "mask", "focus", "render")  # the engine's order


def ordered_stages(runs) -> list[str]:
    """Every stage any run timed, in pipeline order (unknown stages last, by first appearance)."""
    seen: list[str] = []
    for run in runs:
        seen += [s for s in run.stage_median_seconds if s not in seen]
    rank = {name: index for index, name in enumerate(STAGE_ORDER)}
    return sorted(seen, key=lambda s: (rank.get(s, len(rank)), seen.index(s)))


@dataclass(frozen=True)
class ApproachSpec:
    """One approach to compare, with its model variant and weights file if given."""

    approach: str
    model: str | None = None
    weights: Path | None = None
    weights_note: str | None = None  # e.g. "synthetic": printed on every figure of this approach

    @property
    def note_suffix(self) -> str:
        return f" [{self.weights_note.upper()} WEIGHTS]" if self.weights_note else ""


@dataclass(frozen=True)
class CompareSettings:
    """How to compare (not what): the CLI builds one from its arguments.

    ``models``, ``weights`` and ``weights_notes`` are keyed by approach name, e.g.
    ``{"depth_anything": "depth_anything_v2_vitb"}``, ``{"hybrid": Path("dav2.pth")}``,
    ``{"hybrid": "synthetic"}`` (a note is printed on every figure of that approach).
    """

    approaches: tuple[str, ...] = ("selfie", "hybrid", "depth_anything")
    models: Mapping[str, str] = field(default_factory=dict)
    weights: Mapping[str, Path] = field(default_factory=dict)
    weights_notes: Mapping[str, str] = field(default_factory=dict)
    strategies: tuple[str, ...] = ("portrait",)
    masks_dir: Path | None = None  # person masks matched by file stem
    depth_dir: Path | None = None  # 16-bit ground-truth depth PNGs matched by file stem
    depth_scale: float = 1000.0  # ground-truth depth in metres = value / depth_scale
    device: str = "auto"
    # Shared blur settings: an engine EffectSettings whose approach, model, weights,
    # device and strategy are replaced for each run. None = the engine's defaults.
    effect: Any = None
    grid_cell_width: int = 320  # width of one picture in the per-image grid
    html_thumbnail_width: int = 960  # width of the grid thumbnails embedded in report.html

    def approach_specs(self) -> tuple[ApproachSpec, ...]:
        return tuple(
            ApproachSpec(name, model=self.models.get(name),
                         weights=None if self.weights.get(name) is None else Path(self.weights[name]),
                         weights_note=self.weights_notes.get(name) or None)
            for name in self.approaches)


@dataclass(frozen=True)
class RunSpec:
    """One approach with one strategy (engine preset): a column of the comparison."""

    spec: ApproachSpec
    strategy: str

    @property
    def name(self) -> str:
        """Deterministic, filesystem-safe name used in file names and tables."""
        return f"{self.spec.approach}-{self.strategy}"

    @property
    def title(self) -> str:
        """Name plus the weights note, for every table row, plot label and grid label."""
        return f"{self.name}{self.spec.note_suffix}"


@dataclass(frozen=True)
class ImageInfo:
    key: str
    path: Path
    width: int | None
    height: int | None
    error: str | None  # the image itself could not be read
    mask_path: Path | None
    depth_path: Path | None
    grid_path: Path | None
    depth_baseline: DepthFigures | None = None  # a flat prediction scored against the ground truth


@dataclass(frozen=True)
class ImageRun:
    """The outcome of one run on one image."""

    image: str
    run: str
    ok: bool
    error: str | None = None
    seconds: float | None = None  # wall time of Effect.process
    stage_seconds: Mapping[str, float] = field(default_factory=dict)
    quality: Mapping[str, float] | None = None  # QUALITY_FIELDS, with --masks
    depth: DepthFigures | None = None  # with --depth and a depth approach
    focus: float | None = None
    faces: int = 0
    result_path: Path | None = None
    notes: tuple[str, ...] = ()  # ground truth that could not be used for this image, ...


@dataclass(frozen=True)
class RunSummary:
    """Per approach/strategy: model, cost and medians over the images that succeeded."""

    run: str
    title: str
    approach: str
    strategy: str
    model: str | None
    weights: Path | None
    weights_note: str | None
    description: str | None
    device: str | None
    num_params: int | None
    load_seconds: float | None  # shared by the strategies of one approach (one load)
    load_error: str | None
    peak_memory_bytes: int | None
    gpu_peak_memory_bytes: int | None
    memory_method: str | None
    images_ok: int
    images_failed: int
    median_seconds: float | None
    p90_seconds: float | None
    stage_median_seconds: Mapping[str, float]
    quality_median: Mapping[str, float]
    depth_mean: Mapping[str, float]  # abs_rel, delta1 averaged over images with depth ground truth


@dataclass(frozen=True)
class PairAgreement:
    image: str
    run_a: str
    run_b: str
    depth_spearman: float | None  # both runs produced depth
    mask_iou: float | None


@dataclass(frozen=True)
class CompareResult:
    inputs: tuple[Path, ...]
    settings: CompareSettings
    images: tuple[ImageInfo, ...]
    runs: tuple[RunSummary, ...]
    outcomes: tuple[ImageRun, ...]
    agreement: tuple[PairAgreement, ...]
    out_dir: Path
    report_md: Path
    report_html: Path
    results_json: Path
    plots: tuple[Path, ...]

    @property
    def failed(self) -> tuple[ImageRun, ...]:
        """Image runs that failed (unreadable image, model not loaded, effect error); empty if none."""
        return tuple(o for o in self.outcomes if not o.ok)

    def outcome(self, image: str, run: str) -> ImageRun:
        for item in self.outcomes:
            if item.image == image and item.run == run:
                return item
        raise KeyError((image, run))
