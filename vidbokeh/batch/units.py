"""The pieces of work a batch hands to its workers, and what comes back: plain frozen values.

A unit is one photo or one segment of a video. Units and results travel to and from workers as JSON
text (a Ray Data row holds one string), so they carry paths as strings and nothing loaded.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Literal

from ..engine import EffectSettings
from ..video_mode import EncoderSettings
from .segments import Segment


@dataclass(frozen=True)
class WorkerJob:
    """What every worker of one batch is built with: resolved settings (``auto`` already decided)."""

    photo: EffectSettings
    video: EffectSettings
    encoder: EncoderSettings = EncoderSettings()
    work_dir: str = ""  # where workers leave a marker for the unit they are on (pid, host)

    def __post_init__(self) -> None:
        for name, settings in (("photo", self.photo), ("video", self.video)):
            if settings.approach == "auto":
                raise ValueError(f"WorkerJob.{name}: resolve the approach before handing work out")
        if self.photo.video or not self.video.video:
            raise ValueError("WorkerJob: photo settings must be for stills and video settings for video")


@dataclass(frozen=True)
class Unit:
    """One photo, or one segment of a video written to ``output`` (a segment file for videos)."""

    id: str
    item: int  # index of the batch item it belongs to
    kind: Literal["photo", "segment"]
    source: str
    output: str
    segment: Segment | None = None
    frames: int = 1  # frames written (progress and throughput)

    def __post_init__(self) -> None:
        if (self.kind == "segment") != (self.segment is not None):
            raise ValueError(f"unit {self.id}: a segment unit needs its segment, a photo none")

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "Unit":
        data = json.loads(text)
        if data.get("segment") is not None:
            data["segment"] = Segment(**data["segment"])
        return cls(**data)


@dataclass(frozen=True)
class UnitResult:
    id: str
    status: Literal["done", "failed"]
    error: str | None = None
    exit_code: int = 0  # the error's exit code (vidbokeh/errors.py); 1 for a bug
    frames: int = 0
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds, summed over frames
    worker: str = ""  # host:pid that did it
    load_seconds: float = 0.0  # model loading this unit waited for (0 when the worker had them)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "UnitResult":
        return cls(**json.loads(text))
