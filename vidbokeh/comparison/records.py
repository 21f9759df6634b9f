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
        """One spec per approach. A depth approach given no weights file uses the file given to another
        approach for the same model (``hybrid`` runs Depth-Anything by default: it takes the weights, and
        their note, given for ``depth_anything``), never the store's copy of that model instead."""
        specs = []
        for name in self.approaches:
            weights, note = self.weights.get(name), self.weights_notes.get(name)
            if weights is None:
                donor = next((other for other in self.approaches if other != name and other in self.weights
                              and _model_of(other, self.models) == _model_of(name, self.models) is not None), None)
                if donor is not None:
                    weights, note = self.weights[donor], note or self.weights_notes.get(donor)
            specs.append(ApproachSpec(name, model=self.models.get(name),
                                      weights=None if weights is None else Path(weights), weights_note=note or None))
        return tuple(specs)


def _model_of(approach: str, models: Mapping[str, str]) -> str | None:
    """The depth model an approach runs in a comparison (None for selfie)."""
    from ..depth.registry import DEFAULT_MODELS

    if approach in models:
        return models[approach]
    return DEFAULT_MODELS.get("depth_anything" if approach == "hybrid" else approach)


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
    seconds: float | None = None  # wall time of render_still
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
    load_exit_code: int | None = None  # the exit code of load_error's type (4 for weights, see errors.py)


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

    @property
    def exit_code(self) -> int:
        """0 when every run succeeded; else the exit code of the first model that could not load (4 for
        weights missing or unusable), else 3 (images that could not be processed)."""
        if not self.failed:
            return 0
        return next((r.load_exit_code for r in self.runs if r.load_exit_code), 3)

    def outcome(self, image: str, run: str) -> ImageRun:
        for item in self.outcomes:
            if item.image == image and item.run == run:
                return item
        raise KeyError((image, run))
