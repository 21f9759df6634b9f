"""Video: a session owns every piece of temporal state of one stream; the live controls come with each frame.

State: depth every N frames (the latest map reused between), temporal depth smoothing, faces and people every
few frames on a reduced working copy (live: the person segmentation too, its latest map carried between runs by
optical flow), and the focus puller (the detectors' increasing timestamps are the models' own
clock). One session per stream, fed in order from one thread at a time (pipeline/ runs it on its process
thread); models loaded once serve one session after another.
"""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Callable, Protocol, Sequence

import cv2
import numpy as np

from ..depth.registry import family_of
from ..stages.lasting_faces import lasting_people
from ..stages.steady_mask import SteadyMask, SteadySettings
from .frame import FrameResult, focus_and_coc, frame_ops, largest_blur, render, same_device, scale_faces, timed
from .map_carry import MapCarry
from .large_pictures import focus_on_reduced, is_large, reduce, resized, to_full_size
from .models import Models
from .settings import EffectSettings, LiveControls
from .stage_settings import smoothing_settings, stage_settings
from .subject import find_subject, subject_map, subject_scale

VIDEO_DEPTH_SIZE = {"depth_anything": 266, "midas": 256}  # reduced depth resolution for video by default
# On a CPU depth is nearly all of a hybrid frame's time: 196 (14 x 14-px patches on the short side) costs about
# half of 266 and is ample for how far the background is (the subject's outline comes from the segmentation).
VIDEO_DEPTH_SIZE_CPU = {"depth_anything": 196, "midas": 256}
_DEFAULT_FPS = 30.0  # frame spacing assumed for frames that come without a timestamp


class DepthFeed(Protocol):
    """What live depth runs on (pipeline.LatestWorker): work on the newest frame handed over, never waited for."""

    busy: bool

    def submit(self, item: np.ndarray) -> None: ...
    def poll(self) -> tuple[np.ndarray, np.ndarray, float] | None: ...
    def close(self) -> None: ...


class VideoSession:
    """The effect over one stream: ``process(rgb, timestamp, controls)`` frame after frame."""

    def __init__(self, models: Models, settings: EffectSettings | None = None, *,
                 live_depth: Callable[[Callable[[np.ndarray], tuple], str], DepthFeed] | None = None) -> None:
        """``live_depth``: for a live stream, a factory (pipeline.LatestWorker) of the feed depth runs on at its
        own rate; each frame then takes the newest map, carried to it (engine/map_carry.py), and never waits
        for the model (frames before the first map go without depth). Without it every ``depth_every``-th frame
        waits for its own map (files: quality first)."""
        models.require_mode("video", "VideoSession")
        self.models = models
        self.settings = models.settings_for(settings if settings is not None else models.settings)
        self.stages = stage_settings(self.settings, self.settings.video_profile)
        self._ops = frame_ops(self.settings)  # the frame's array operations, chosen once for the stream
        # the torch frame path: each frame is uploaded once; depth (when the model runs on the same device), focus,
        # CoC, the mask's upsampling and the render work on it there, and one uint8 frame comes back
        self._on_device = self._ops.name != "opencv"
        self._device_depth = self._on_device and models.depth is not None and same_device(
            getattr(models.depth, "device", None), getattr(self._ops, "device", None))
        smooth = smoothing_settings(self.settings)
        self._smoother = self._puller = None
        if smooth.strength > 0:
            from ..stages.smoothing import DepthSmoother, FocusPuller

            self._smoother, self._puller = DepthSmoother(smooth, self._ops), FocusPuller(smooth)
        self._frame_index = 0
        self._faces_seen: list = []  # the latest detected faces (working-copy pixels)
        self._people_seen: tuple = ()  # the latest people found, with the faces found beside them
        self._people_age = 0  # frames since they were found
        self._masks_carry: MapCarry | None = None  # their own pose masks, carried to the frames in between
        self._faces_age = 0  # frames since they were detected
        self._last_depth: np.ndarray | None = None
        self._motion = None  # stages.subject_motion.SubjectMotion: who the video is about, when depth cannot say
        self._steady = None  # stages.steady_mask.SteadyMask: the protection mask held where the picture holds still
        if self.settings.video_profile.steady_mask < 1.0:
            self._steady = SteadyMask(SteadySettings(follow=self.settings.video_profile.steady_mask))
        if models.depth is None and models.people is not None and self.settings.video_profile.subject_motion:
            from ..stages.subject_motion import SubjectMotion

            self._motion = SubjectMotion()
        self._last_time: float | None = None
        self._feed: DepthFeed | None = None
        self._carry: MapCarry | None = None
        if live_depth is not None and models.depth is not None:
            profile = self.settings.video_profile
            self._carry = MapCarry(profile.depth_flow_side, self._ops, profile.depth_carry_side)
            self._feed = live_depth(self._predict_one, "vidbokeh-depth")
        self._person_carry: MapCarry | None = None  # the segmentation's latest map, between its runs
        self._segment_age = 0  # frames since the segmentation last ran
        self._cuts = None  # stages.scene_cut.SceneCutDetector: a cut always gets a fresh segmentation
        self._segment_every = self.settings.video_profile.live_segment_every if live_depth is not None else 1
        if models.segmenter is not None and self._segment_every > 1:
            from ..stages.scene_cut import SceneCutDetector

            self._person_carry = MapCarry(self.settings.video_profile.depth_flow_side)
            self._cuts = SceneCutDetector()

    def close(self) -> None:
        """Stop live depth's worker (idempotent; models stay loaded for the next session)."""
        if self._feed is not None:
            self._feed.close()
            self._feed = None

    def __enter__(self) -> "VideoSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def depth_size(self) -> int | None:
        """Depth network input size: the settings', else reduced for video (unless the model's is fixed)."""
        if self.settings.depth_size is not None or self.settings.model is None:
            return self.settings.depth_size
        variant = getattr(self.models.depth, "variant", None)
        if variant is not None and getattr(variant, "fixed_input_size", False):
            return None
        sizes = VIDEO_DEPTH_SIZE_CPU if self.models.device == "cpu" else VIDEO_DEPTH_SIZE
        return sizes[family_of(self.settings.model)]

    def process(self, rgb: np.ndarray, timestamp: float | None = None,
                controls: LiveControls = LiveControls()) -> FrameResult:
        return self.process_batch([rgb], None if timestamp is None else [timestamp], controls)[0]

    def process_batch(self, frames: Sequence[np.ndarray], timestamps: Sequence[float] | None = None,
                      controls: LiveControls = LiveControls()) -> list[FrameResult]:
        """Frames in stream order (timestamps in seconds); depth runs as one batch where it runs on this call.

        Frames over MAX_WORK_PIXELS are processed at reduced size and returned at full size."""
        if not any(is_large(f) for f in frames):
            return self._process(list(frames), timestamps, controls, self.stages.focus)
        reduced = [reduce(f) for f in frames]
        focus = focus_on_reduced(self.stages.focus, frames[0], reduced[0])
        results = self._process(reduced, timestamps, controls, focus)
        return [to_full_size(r, f) for r, f in zip(results, frames)]

    def _process(self, frames: list[np.ndarray], timestamps: Sequence[float] | None, controls: LiveControls,
                 focus_settings) -> list[FrameResult]:
        timings: list[dict[str, float]] = [{} for _ in frames]
        with self._ops.guard():  # a device out of memory: one line naming what to lower
            uploaded = [self._ops.upload(f) for f in frames] if self._on_device else frames
            depths = self._depth_for(frames, timings, uploaded)
            return [self._finish(rgb, uploaded[i], depths[i], None if timestamps is None else timestamps[i],
                                 timings[i], controls, focus_settings) for i, rgb in enumerate(frames)]

    def _predict_one(self, rgb: np.ndarray) -> tuple[np.ndarray, Any, float]:
        """(the frame, its raw depth map, seconds the model took): the work live depth does beside the frames. On
        the device frame path with the model there, the map stays on the device (the frame goes up once)."""
        t0 = time.perf_counter()
        if self._device_depth:
            depth = self.models.depth.predict_tensors([rgb], input_size=self.depth_size)[0]
        else:
            depth = self.models.depth.predict_batch([rgb], input_size=self.depth_size)[0]
        return rgb, depth, time.perf_counter() - t0

    def _smoothed(self, depth, rgb: np.ndarray, timings: dict[str, float]):
        """The map smoothed over time, on the frame path's operations (a device map stays on the device)."""
        if self._smoother is None:
            return depth
        with timed(timings, "smooth"):
            return self._smoother.update(depth, rgb)

    def _live_depth_for(self, frames: list[np.ndarray], timings: list[dict[str, float]]) -> list[np.ndarray | None]:
        """Live: the newest map the worker finished, carried to each frame; the next frame handed over whenever
        the worker is idle. No frame waits, not even the stream's first: until the first map arrives (the
        runtime may still be opening its session, or exporting its graph on first use) frames go without
        depth, blurred uniformly around the protected subject. ``timings["depth"]`` is set on the frames a
        fresh map arrived with (the rate the summary reports)."""
        assert self._feed is not None and self._carry is not None
        out: list[np.ndarray | None] = []
        for rgb, timing in zip(frames, timings):
            done = self._feed.poll()
            if done is not None:
                made_on, depth, seconds = done
                timing["depth"] = seconds
                self._carry.anchor(self._smoothed(depth, made_on, timing), made_on)
            if not self._feed.busy:
                self._feed.submit(rgb)
            if self._carry.latest is None:
                out.append(None)
                continue
            with timed(timing, "carry"):
                out.append(self._carry.carry(rgb))
        return out

    def _depth_for(self, frames: list[np.ndarray], timings: list[dict[str, float]], uploaded: list) -> list:
        """Each frame's depth: fresh every ``depth_every`` frames (smoothed), the latest map in between. On the
        device frame path with the model on that device, the maps are made from the uploaded frames and stay
        there (numpy arrays otherwise)."""
        model = self.models.depth
        if model is None:
            return [None] * len(frames)
        if self._feed is not None:
            return self._live_depth_for(frames, timings)
        every = self.settings.depth_every
        todo = [i for i in range(len(frames))
                if (self._frame_index + i) % every == 0 or self._last_depth is None and i == 0]
        fresh: dict[int, Any] = {}
        if todo:
            t0 = time.perf_counter()
            if self._device_depth:
                maps = model.predict_tensors([uploaded[i] for i in todo], input_size=self.depth_size)
            else:
                maps = model.predict_batch([frames[i] for i in todo], input_size=self.depth_size)
            per = (time.perf_counter() - t0) / len(todo)
            for i, d in zip(todo, maps):
                fresh[i] = d
                timings[i]["depth"] = per
        out: list = []
        for i in range(len(frames)):
            if i in fresh:
                self._last_depth = self._smoothed(fresh[i], frames[i], timings[i])
            out.append(self._last_depth)
        return out

    def _finish(self, rgb: np.ndarray, frame, depth, timestamp: float | None, timings: dict[str, float],
                controls: LiveControls, focus_settings) -> FrameResult:
        """The rest of one frame: ``rgb`` on the host (the detectors), ``frame`` the frame path's copy of it."""
        self._frame_index += 1
        stream_ms = int(round((timestamp if timestamp is not None else self._frame_index / _DEFAULT_FPS) * 1000))
        ts_ms = self.models.video_timestamp(stream_ms)
        if depth is not None and self._on_device:
            depth = self._ops.upload(depth)  # a map made on the host (live depth, another device): up once
        faces, protect = self._subject(rgb, ts_ms, timings, depth)
        focus = coc = None
        with timed(timings, "focus"):
            if depth is not None:
                focus, coc = focus_and_coc(depth, faces, protect, focus_settings, self.settings.approach, controls,
                                           pull=lambda f: self._pull_focus(f, timestamp), ops=self._ops)
        self._last_time = timestamp
        with timed(timings, "render"):
            output, coc = render(frame, coc, protect, largest_blur(focus_settings, rgb.shape, controls),
                                 self.stages.bokeh, self._ops)
        return FrameResult(output=output, depth=depth, protect=protect, coc=coc, focus=focus, faces=faces,
                           timings=timings)

    def _pull_focus(self, focus: float, timestamp: float | None) -> float:
        if self._puller is None:
            return focus
        if timestamp is None or self._last_time is None:
            dt = 1 / _DEFAULT_FPS
        else:
            dt = max(1e-3, timestamp - self._last_time)
        cut = self._smoother is not None and self._smoother.last_cut_reason == "frame"
        return self._puller.update(focus, dt, cut=cut)

    def _subject(self, rgb: np.ndarray, ts_ms: int, timings: dict[str, float], depth) -> tuple[list, Any]:
        """(faces in ``rgb`` pixels, protection mask HxW as the frame path's array), found on a reduced working
        copy; the mask is brought to the frame's size by the frame path's operations."""
        from ..stages.masks import build_protection_mask

        h, w = rgb.shape[:2]
        profile = self.settings.video_profile
        work = rgb
        if 0 < profile.work_max_side < max(h, w):
            with timed(timings, "faces"):
                work = resized(rgb, profile.work_max_side / max(h, w))
        with timed(timings, "faces"):
            faces = self._detect_faces(work, ts_ms)
        motion = self._motion
        if motion is not None:
            with timed(timings, "motion"):
                motion.update(work)
        # depth where the frame path keeps it: the subject choice reads a few values of it there (stages/subjects.py)
        faces, person, people, chosen = find_subject(self.models, work, faces, depth, ts_ms, timings,
                                                     self._find_people, None if motion is None else motion.choose,
                                                     self._segment, self._ops)
        with timed(timings, "mask"):
            weight = None if motion is None else motion.weight(person, people)
            person = subject_map(work.shape, person, people, chosen, cut_pieces=False)  # landmarks may be old
            missed = None if motion is None or person is None else motion.missed_parts(person.shape)
            if missed is not None:  # the mover's parts the segmenter did not see (a dancer's legs in the air)
                person = np.maximum(person, missed)
            protect = build_protection_mask(work, person, faces,
                                            self.stages.mask.for_subject(subject_scale(work.shape, people, chosen)))
            if weight is not None:  # bystanders of a clear main subject fade out of the protection
                protect *= weight
            if self._steady is not None:  # held where the picture holds still: no flicker of its own
                protect = self._steady.update(work, protect)
            protect = self._ops.upload(protect)
            if work is not rgb:
                protect = self._ops.clip(self._ops.resize(protect, (w, h), "linear"), 0.0, 1.0)
                faces = scale_faces(faces, w / work.shape[1], h / work.shape[0])
        return faces, protect

    def _find_people(self, work: np.ndarray, faces: list) -> tuple[list, list]:
        """(people, faces incl. the full-range detector's), found every ``people_every`` frames and reused in
        between, each with its own pose mask carried along the optical flow to the frame at hand: without it a
        full-body person rests on the segmenter alone in five frames of six (on the DAVIS dancer and runner
        frames, video's median leak was 0.075 against 0.027 with the pose on every frame)."""
        self._people_age += 1
        if not self._people_seen or self._people_age >= self.settings.video_profile.people_every:
            people, merged = self.models.people.find(work, faces)
            # a weak face with no body counts once seen again (stages/lasting_faces.py): a false one would blink
            people = lasting_people(people, self._people_seen[1] if self._people_seen else None)
            self._people_seen, self._people_age = (people, merged), 0
            self._anchor_masks(people, work)
            return people, merged
        people, merged = self._people_seen
        carried = None if self._masks_carry is None else self._masks_carry.carry(work)
        if carried is not None and carried.ndim == 2:  # OpenCV returns a one-map stack as a plain map
            carried = carried[..., None]
        out, k = [], 0
        h, w = work.shape[:2]
        for person in people:
            if person.mask is None or carried is None:
                out.append(replace(person, mask=None, mask_box=None))
            else:
                out.append(replace(person, mask=carried[..., k], mask_box=(0, 0, w, h)))
                k += 1
        return out, merged

    def _anchor_masks(self, people: list, work: np.ndarray) -> None:
        """Keep the people's own pose masks (one HxWxN stack at half the working copy's size) to carry to later
        frames."""
        h, w = work.shape[:2]
        # kept at half the copy's size: the pose model's masks are coarser than that, and the carry costs a quarter
        half = (max(1, w // 2), max(1, h // 2))
        masks = [cv2.resize(p.mask_in((h, w)), half, interpolation=cv2.INTER_AREA)
                 for p in people if p.mask is not None]
        self._masks_carry = None
        if masks and self.settings.video_profile.depth_flow_side > 0:
            self._masks_carry = MapCarry(self.settings.video_profile.depth_flow_side)
            self._masks_carry.anchor(np.stack(masks, axis=-1), work)

    def _segment(self, work: np.ndarray, ts_ms: int, faces: list, upright: list) -> np.ndarray:
        """The person probability: in a live stream the segmenter's every ``live_segment_every`` frames (one later
        where people were just looked for; at once on a scene cut), its latest map carried to the frame by optical
        flow in between; in a file every frame's own."""
        carry = self._person_carry
        if carry is None:
            return self.models.segmenter.segment(work, ts_ms, faces, upright)
        assert self._cuts is not None
        cut = self._cuts.update(work)
        due = self._segment_age >= self._segment_every - 1
        # on a frame the pose model ran on, the segmentation waits one frame more: the two dearest stages never
        # fall on one frame (a live frame's latency is the sum of what runs on it)
        people_now = self.models.people is not None and self._people_age == 0
        fresh = (cut or carry.latest is None or carry.latest.shape != work.shape[:2]
                 or (due and not people_now) or self._segment_age >= self._segment_every)
        if fresh:
            carry.anchor(self.models.segmenter.segment(work, ts_ms, faces, upright), work)
            self._segment_age = 0
            return carry.latest
        self._segment_age += 1
        # where the person is now by the flow, or where it stood when the map was made: the flow on a small copy
        # falls short of fast limbs, and a limb left blurred shows more than a little background kept sharp
        return np.maximum(carry.carry(work), carry.latest)

    def _detect_faces(self, work: np.ndarray, ts_ms: int) -> list:
        """Faces every ``face_every`` frames, the latest reused between (working-copy pixels)."""
        if self.models.faces is None:
            return []
        if self._faces_age % self.settings.video_profile.face_every == 0:
            self._faces_seen = self.models.faces.detect(work, ts_ms)
            self._faces_age = 0
        self._faces_age += 1
        return self._faces_seen
