"""``run_batch``: inputs -> items -> units for an engine -> outputs, manifest and a report.

The driver (this module) does everything but the effect itself: it finds the items, resolves the
approach once for everyone, skips what the manifest says is done with the same settings, cuts videos
into keyframe-aligned segments, hands the units to the engine, joins each video's segments when its
last one is back, records every item in the manifest as it ends, and reports progress for the whole
batch (items, frames, ETA). A video's finished segments are kept (``DIR/.vidbokeh-batch/``) until it
is joined, so a rerun after a crash redoes only the segments that were missing.
"""
from __future__ import annotations

import hashlib
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..engine import EffectSettings
from ..errors import OutputError, UsageError, VidbokehError
from ..media.atomic import TEMP_MARKER, remove_quietly
from ..video_mode import EncoderSettings
from .inputs import Item, discover
from .manifest import Entry, Manifest, settings_key, settings_record
from .segments import Segment, SegmentPlan, plan_segments, scan
from .units import Unit, UnitResult, WorkerJob

log = logging.getLogger(__name__)

WORK_FOLDER = ".vidbokeh-batch"
ENGINES = ("local", "ray")


@dataclass(frozen=True)
class BatchSettings:
    engine: str = "local"
    ray_address: str | None = None
    workers: int | None = None  # ray: actors (default one per GPU, else one per two CPUs)
    segments: SegmentPlan = SegmentPlan()
    encoder: EncoderSettings = EncoderSettings()

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise UsageError(f"unknown engine {self.engine!r} (choose {', '.join(ENGINES)})")
        if self.ray_address is not None and self.engine != "ray":
            raise UsageError("--ray-address needs --engine ray")
        if self.workers is not None and self.workers < 1:
            raise UsageError(f"--workers must be >= 1, got {self.workers}")


@dataclass
class BatchProgress:
    """The whole batch so far; handed to the progress callback after every unit."""

    items_total: int
    frames_total: int
    items_done: int = 0
    items_failed: int = 0
    items_skipped: int = 0
    frames_done: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def fps(self) -> float:
        return self.frames_done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the frame rate so far (None before the first frame)."""
        if not self.frames_done:
            return None
        return max(0, self.frames_total - self.frames_done) / self.fps

    def line(self) -> str:
        ended = self.items_done + self.items_failed + self.items_skipped
        eta = "?" if self.eta is None else _clock(self.eta)
        failed = f", {self.items_failed} failed" if self.items_failed else ""
        return (f"{ended}/{self.items_total} items{failed}, {self.frames_done}/{self.frames_total} frames, "
                f"{self.fps:.1f} frames/s, ETA {eta}")


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


@dataclass(frozen=True)
class ItemOutcome:
    item: Item
    status: str  # done | failed | skipped
    error: str | None = None
    exit_code: int = 0
    entry: Entry | None = None


@dataclass
class BatchReport:
    engine: str
    workers: int
    outcomes: list[ItemOutcome]
    seconds: float
    frames: int

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def exit_code(self) -> int:
        return next((o.exit_code or 1 for o in self.outcomes if o.status == "failed"), 0)

    def summary(self) -> str:
        text = (f"{self.count('done')} done, {self.count('skipped')} skipped (already done), "
                f"{self.count('failed')} failed; {self.frames} frames in {self.seconds:.1f} s "
                f"({self.frames / self.seconds if self.seconds > 0 else 0:.3g} frames/s, engine {self.engine}")
        return text + (f", {self.workers} workers)" if self.workers > 1 else ")")


@dataclass
class _VideoState:
    item: Item
    segments: list[Segment]
    parts: list[Path]
    cuts: list[int]
    frame_pts: tuple[int, ...]
    folder: Path
    waiting: set[str] = field(default_factory=set)
    results: list[UnitResult] = field(default_factory=list)


def resolved(settings: EffectSettings, *, video: bool) -> EffectSettings:
    """The settings with ``auto`` decided, once, before any worker sees them."""
    from ..engine import resolve_approach

    return resolve_approach(replace(settings, video=video))


def _make_engine(batch: BatchSettings, job: WorkerJob):
    if batch.engine == "ray":
        from .ray_engine import RayEngine, RaySettings

        return RayEngine(job, RaySettings(address=batch.ray_address, workers=batch.workers))
    from .local import LocalEngine

    return LocalEngine(job)


def run_batch(
    inputs: Sequence[str | Path],
    out_dir: str | Path,
    settings: EffectSettings = EffectSettings(),
    batch: BatchSettings = BatchSettings(),
    *,
    on_progress: Callable[[BatchProgress], None] | None = None,
) -> BatchReport:
    """Process every photo and video of ``inputs`` into ``out_dir`` (see the module docstring)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: --out must be a folder, not a file")
    items = discover(inputs, out)  # bad inputs fail before anything is created
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out}: cannot create the output folder: {exc.strerror or exc}") from exc
    out = out.resolve()
    work = out / WORK_FOLDER
    job = WorkerJob(photo=resolved(settings, video=False), video=resolved(settings, video=True),
                    encoder=batch.encoder, work_dir=str(work))
    recorder = _Recorder(Manifest(out), out, job, batch.engine)
    _remove_partials(out)  # left by a run that was killed: no worker of ours is running now
    t0 = time.monotonic()
    outcomes: dict[int, ItemOutcome] = {}
    units: dict[str, Unit] = {}
    videos: dict[int, _VideoState] = {}
    for index, item in enumerate(items):
        if recorder.is_done(item):
            outcomes[index] = ItemOutcome(item, "skipped", entry=recorder.manifest.latest[item.relative])
            continue
        item.output.parent.mkdir(parents=True, exist_ok=True)
        if item.kind == "photo":
            unit = Unit(id=f"{index}", item=index, kind="photo", source=str(item.source), output=str(item.output))
            units[unit.id] = unit
            continue
        try:
            state = _plan_video(item, work, recorder.keys["video"], batch.segments)
        except VidbokehError as exc:
            outcomes[index] = recorder.failed(item, str(exc), exc.exit_code)
            continue
        videos[index] = state
        for seg, part in zip(state.segments, state.parts):
            if part.exists():  # done by an earlier run that did not get to the join
                continue
            unit = Unit(id=f"{index}:{seg.index}", item=index, kind="segment", source=str(item.source),
                        output=str(part), segment=seg, frames=seg.frames)
            units[unit.id] = unit
            state.waiting.add(unit.id)

    progress = BatchProgress(items_total=len(items), frames_total=sum(u.frames for u in units.values()),
                             items_skipped=sum(1 for o in outcomes.values() if o.status == "skipped"),
                             items_failed=sum(1 for o in outcomes.values() if o.status == "failed"))
    for index, state in videos.items():  # every segment already there: only the join is left
        if not state.waiting:
            outcomes[index] = recorder.video(state)
            _count(progress, outcomes[index])
    if on_progress is not None:
        on_progress(progress)

    engine = _make_engine(batch, job)
    frames = 0
    try:
        for result in engine.run(list(units.values())):
            unit = units[result.id]
            frames += result.frames
            progress.frames_done += unit.frames
            if unit.kind == "segment":
                state = videos[unit.item]
                state.waiting.discard(unit.id)
                state.results.append(result)
                if not state.waiting:
                    outcomes[unit.item] = recorder.video(state)
                    _count(progress, outcomes[unit.item])
            else:
                outcomes[unit.item] = recorder.photo(items[unit.item], result)
                _count(progress, outcomes[unit.item])
            if on_progress is not None:
                on_progress(progress)
    finally:
        _remove_partials(out)
    for index, item in enumerate(items):  # an engine that lost a unit without saying so: never silent
        if index not in outcomes:
            outcomes[index] = recorder.failed(item, "no result came back from the workers", 1)
    return BatchReport(engine=batch.engine, workers=getattr(engine, "workers", 1),
                       outcomes=[outcomes[i] for i in range(len(items))], seconds=time.monotonic() - t0,
                       frames=frames)


def _count(progress: BatchProgress, outcome: ItemOutcome) -> None:
    if outcome.status == "done":
        progress.items_done += 1
    elif outcome.status == "failed":
        progress.items_failed += 1


def _plan_video(item: Item, work: Path, key: str, plan: SegmentPlan) -> _VideoState:
    from ..media.probe import probe

    probe(item.source)  # one clear line for what is not a usable video, before any work
    found = scan(item.source)
    segments = plan_segments(found, plan)
    digest = hashlib.sha256(item.relative.encode()).hexdigest()[:12]
    folder = work / f"{digest}-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    parts = [folder / f"segment-{s.index:05d}{item.output.suffix}" for s in segments]
    return _VideoState(item=item, segments=segments, parts=parts, cuts=[s.start_pts for s in segments[1:]],
                       frame_pts=found.pts, folder=folder)


class _Recorder:
    """Writes each ended item to the manifest with the settings it was made with."""

    def __init__(self, manifest: Manifest, out: Path, job: WorkerJob, engine: str) -> None:
        self.manifest, self.out, self.engine = manifest, out, engine
        self.records = {"photo": settings_record(job.photo), "video": settings_record(job.video, job.encoder)}
        self.keys = {kind: settings_key(record) for kind, record in self.records.items()}

    def is_done(self, item: Item) -> bool:
        return self.manifest.is_done(item.relative, self.keys[item.kind], item.output)

    def _write(self, item: Item, status: str, **fields) -> Entry:
        entry = Entry(input=item.relative, output=item.output.relative_to(self.out).as_posix(), kind=item.kind,
                      status=status, settings_key=self.keys[item.kind], settings=self.records[item.kind],
                      engine=self.engine, **fields)
        self.manifest.append(entry)
        return entry

    def failed(self, item: Item, error: str, code: int) -> ItemOutcome:
        entry = self._write(item, "failed", error=error)
        return ItemOutcome(item, "failed", error=error, exit_code=code, entry=entry)

    def photo(self, item: Item, result: UnitResult) -> ItemOutcome:
        if result.status != "done":
            return self.failed(item, result.error or "failed", result.exit_code)
        entry = self._write(item, "done", frames=result.frames, seconds=round(result.seconds, 4),
                            timings={k: round(v, 4) for k, v in result.timings.items()}, workers=[result.worker])
        return ItemOutcome(item, "done", entry=entry)

    def video(self, state: _VideoState) -> ItemOutcome:
        from .join import join_flicker, join_segments

        item = state.item
        failed = [r for r in state.results if r.status != "done"]
        if failed:
            first = min(failed, key=lambda r: int(r.id.split(":")[1]))
            return self.failed(item, first.error or "failed", first.exit_code)
        try:
            join_segments(state.parts, item.output, item.source, overwrite=True)
            seams = join_flicker(item.source, item.output, state.frame_pts, state.cuts)
        except VidbokehError as exc:
            return self.failed(item, str(exc), exc.exit_code)
        timings: dict[str, float] = {}
        for r in state.results:
            for k, v in r.timings.items():
                timings[k] = timings.get(k, 0.0) + v
        entry = self._write(item, "done", frames=len(state.frame_pts),
                            seconds=round(sum(r.seconds for r in state.results), 4),
                            timings={k: round(v, 4) for k, v in timings.items()}, segments=len(state.parts),
                            flicker=seams.as_dict() if seams is not None else None,
                            workers=sorted({r.worker for r in state.results}))
        shutil.rmtree(state.folder, ignore_errors=True)
        return ItemOutcome(item, "done", entry=entry)


def _remove_partials(out: Path) -> None:
    """Temporary files of units that never finished (a killed worker): never left behind."""
    for path in out.rglob(f"*{TEMP_MARKER}*"):
        if path.is_file():
            remove_quietly(path)
    running = out / WORK_FOLDER / "running"
    if running.is_dir():
        shutil.rmtree(running, ignore_errors=True)
    try:
        (out / WORK_FOLDER).rmdir()  # only when empty: unfinished videos keep their segments for a rerun
    except OSError:
        pass
