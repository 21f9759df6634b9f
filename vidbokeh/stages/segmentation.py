"""Person segmentation with the MediaPipe selfie segmenter (Tasks ImageSegmenter).

The selfie model sees a 256x256 copy of its input, which is plenty for a head-and-shoulders
webcam frame but squashes a landscape frame and leaves a full-body person a few dozen pixels
wide. So the first pass runs on overlapping square tiles as tall as a landscape frame (one tile
for a near-square image). A tall frame's tiles, as wide as it, can cut people across the body,
so there the whole-frame answer joins them (maximum). Then each person found (a connected
region of the mask, or a detected face with room for the body below it) is segmented again on
a square crop around it (and turned over, for people upside down), and that finer answer replaces the
coarse one inside the crop. Several people each get their own crop; a row of people side by side, one region
much wider than tall, is cropped in person-sized parts (a crop of the whole row would be no finer than the
first pass). Where crops overlap, a person either one sees counts.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, Sequence

import cv2
import numpy as np

from vidbokeh.errors import InputError, ModelError, UsageError
from vidbokeh.stages.faces import Face, as_rgb_uint8, import_mediapipe, next_video_timestamp
from vidbokeh.stages.mask_ops import soft_threshold


@dataclass(frozen=True)
class SegmenterSettings:
    # "video": frames come with increasing timestamps (checked). The selfie model keeps no state
    # between frames, and one frame takes several model runs (tiles, crops), so MediaPipe itself
    # always runs in its IMAGE mode.
    running_mode: Literal["image", "video"] = "image"
    tile: bool = True  # first pass on square tiles instead of the squashed whole frame
    tile_overlap: float = 0.25  # minimum overlap between neighbouring tiles (fraction of a side)
    max_tiles: int = 4  # a panorama gets this many stretched tiles, not dozens of square ones
    refine: bool = True  # second pass on a crop around each person
    max_people: int = 4  # at most this many crops per image
    seed_threshold: float = 0.5  # first-pass probability that counts as person when finding crops
    min_person_frac: float = 0.002  # smaller regions (fraction of the image) are ignored
    crop_margin: float = 0.25  # extra room around a person's box, fraction of its larger side
    upside_down: bool = True  # the crop pass also looks at the crop turned 180 degrees
    turned_sure: tuple[float, float] = (0.6, 0.9)  # the turned look's probability ramped to 0..1 between these
    refine_max_frac: float = 0.6  # a person box wider/taller than this fraction is not re-cropped
    row_ratio: float = 1.5  # ... unless it is this many times wider than tall (a row of people: cropped in parts)

    def __post_init__(self) -> None:
        if self.running_mode not in ("image", "video"):
            raise UsageError(f"unknown running mode {self.running_mode!r}")
        if self.max_people < 0:
            raise UsageError("max_people must be >= 0")
        if not 0.0 < self.seed_threshold < 1.0:
            raise UsageError("seed_threshold must be in (0, 1)")
        if not 0.0 <= self.turned_sure[0] < self.turned_sure[1] <= 1.0:
            raise UsageError("turned_sure must be (low, high) with 0 <= low < high <= 1")


Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive), pixels


class PersonSegmenter:
    """Person probability (HxW float32 in [0, 1]) for RGB uint8 images. A context manager."""

    def __init__(
        self, settings: SegmenterSettings = SegmenterSettings(), *,
        model_path: str | Path | None = None, progress: bool = True,
    ) -> None:
        self.settings = settings
        self._closed = False
        self._last_ts: int | None = None
        self._model_path = _model_file(model_path, progress)
        self._segmenter = _create_mediapipe(self._model_path)

    def segment(
        self, rgb: np.ndarray, timestamp_ms: int | None = None, faces: Sequence[Face] = (),
        upright: Sequence[tuple[float, float, float, float]] = (), *, coarse: np.ndarray | None = None,
        run_many: Callable[[list[np.ndarray]], list[np.ndarray]] | None = None,
    ) -> np.ndarray:
        """Person probability at the image's resolution.

        ``timestamp_ms`` is required in video mode and must increase. ``faces`` add crops for
        people the whole-frame pass missed (e.g. a small person whose face was found). ``upright``: boxes
        (x0, y0, x1, y1) of people the pose model saw upright; their crops get no turned-over look.
        ``coarse``: this image's ``first_pass``, when the caller made it already (else it is made here).
        ``run_many(crops) -> probabilities``: how the crops' model runs are made (default: ``run`` on each in turn;
        a caller may share them with a ``twin`` on another thread).
        """
        if self._closed:
            raise RuntimeError("PersonSegmenter is closed")
        if self.settings.running_mode == "video":
            self._last_ts = next_video_timestamp(self._last_ts, timestamp_ms)
        image = as_rgb_uint8(rgb)
        if coarse is not None and coarse.shape != image.shape[:2]:
            raise InputError(f"first pass {coarse.shape} does not match image {image.shape[:2]}")
        prob = self._first_pass(image) if coarse is None else coarse
        if not self.settings.refine or self.settings.max_people == 0:
            return prob
        h, w = prob.shape
        # what each crop needs the model to look at: the crop itself (unless a first-pass tile showed it as large)
        # and, for a person not seen upright, the crop turned over
        plans, looks = [], []
        for box, tile_sized, upright_seen in self._crops(prob, faces, upright):
            x0, y0, x1, y1 = box
            if (x1 - x0) > self.settings.refine_max_frac * w and (y1 - y0) > self.settings.refine_max_frac * h:
                continue  # already large in the frame: the first pass saw it well
            crop = np.ascontiguousarray(image[y0:y1, x0:x1])
            # a crop as large as a tile shows the upright model what the tiles showed: only its turned look is new
            plain = None if tile_sized else len(looks)
            if plain is not None:
                looks.append(crop)
            # The selfie model was trained on upright people; a dancer on their hands loses their legs. The crop
            # turned over finds them; either answer counts. A person the pose model saw upright gets no turned look:
            # there it only adds what is not there (legs below the feet, read upside down).
            turned = None
            if self.settings.upside_down and not upright_seen:
                turned = len(looks)
                looks.append(np.ascontiguousarray(crop[::-1, ::-1]))
            plans.append((box, plain, turned))
        seen = run_many(looks) if run_many is not None else [self._run(look) for look in looks]
        # the crops' answers, each faded out over its border (``fine``), and how much of each pixel they cover
        # (``cover``); where crops overlap, a person either one sees counts
        fine = np.zeros_like(prob)
        cover = np.zeros_like(prob)
        for (x0, y0, x1, y1), plain, turned in plans:
            crop_prob = prob[y0:y1, x0:x1] if plain is None else seen[plain]
            if turned is not None:
                # Read the wrong way up, the model also takes some background for a person, less surely (grey
                # blocks of wall): only what it is sure of counts.
                crop_prob = np.maximum(crop_prob, soft_threshold(seen[turned][::-1, ::-1], *self.settings.turned_sure))
            weight = _inner_weight(y1 - y0, x1 - x0, at_edge=(y0 == 0, y1 == h, x0 == 0, x1 == w))
            np.maximum(fine[y0:y1, x0:x1], weight * crop_prob, out=fine[y0:y1, x0:x1])
            np.maximum(cover[y0:y1, x0:x1], weight, out=cover[y0:y1, x0:x1])
        # inside the crops the finer answer wins; a band at a crop's border blends back into the coarse one so a
        # person cut by the crop does not end in a hard seam
        return fine + (1.0 - cover) * prob

    def first_pass(self, rgb: np.ndarray) -> np.ndarray:
        """The whole picture's look (square tiles), before any crop: what ``segment`` refines. It needs no one found
        yet, so a caller may make it while it looks for people and hand it to ``segment(..., coarse=)``."""
        if self._closed:
            raise RuntimeError("PersonSegmenter is closed")
        return self._first_pass(as_rgb_uint8(rgb))

    def person_boxes(self, prob: np.ndarray, faces: Sequence[Face] = ()) -> list[Box]:
        """Square crop boxes around the people in a first-pass probability map (and faces)."""
        return [box for box, _, _ in self._crops(prob, faces)]

    def _crops(self, prob: np.ndarray, faces: Sequence[Face] = (),
               upright: Sequence[tuple[float, float, float, float]] = ()) -> list[tuple[Box, bool, bool]]:
        """(square crop box, whether it is a part of a row as large as a first-pass tile, whether the person it is
        for was seen upright: a face, or the middle of an ``upright`` box in its region), largest people first."""
        h, w = prob.shape
        s = self.settings
        seeds: list[tuple[float, Box, float, bool, bool]] = []  # (area, box, margin, tile-sized row part, upright)
        mask = (prob >= s.seed_threshold).astype(np.uint8)
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        min_area = s.min_person_frac * h * w
        for i in range(1, count):
            x, y, bw, bh, area = (int(v) for v in stats[i])
            if area < min_area:
                continue
            if bw > s.refine_max_frac * w and bw > s.row_ratio * bh:
                # people side by side make one region much wider than tall (a row, a crowd): a crop around the
                # whole row would be skipped as too large, so it is looked at in parts, each a square as large as
                # a crop may be, overlapping like the tiles
                side = int(min(round(bh * (1.0 + 2.0 * s.crop_margin)), h, s.refine_max_frac * w))
                parts = int(np.ceil(max(0, bw - side) / (side * (1.0 - s.tile_overlap)))) + 1
                cy = y + bh // 2
                for sx in np.linspace(x, x + bw - side, parts).round().astype(int):
                    part = (int(sx), cy - side // 2, int(sx) + side, cy + side - side // 2)
                    seeds.append((float(area) / parts, part, 0.0, side >= min(h, w), _holds(part, upright)))
            else:
                box = (x, y, x + bw, y + bh)
                seeds.append((float(area), box, s.crop_margin, False, _holds(box, upright)))
        for face in faces:
            # A body is roughly 3 face widths across and 7-8 face heights tall below the chin.
            fw, fh = face.width, face.height
            cx = 0.5 * (face.x0 + face.x1)
            box = (int(cx - 1.6 * fw), int(face.y0 - 0.6 * fh), int(cx + 1.6 * fw), int(face.y1 + 7 * fh))
            seeds.append((fw * fh * 8.0, _clip(box, w, h), s.crop_margin, False, True))  # faces are found upright
        seeds.sort(key=lambda item: -item[0])
        boxes: list[tuple[Box, bool, bool]] = []
        for _, box, margin, tile_sized, seen in seeds:
            crop = _square_crop(box, margin, w, h)
            if any(_contains(kept, crop) for kept, _, _ in boxes):
                continue
            boxes.append((crop, tile_sized, seen))
            if len(boxes) >= s.max_people:
                break
        return boxes

    def _first_pass(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        s = self.settings
        boxes = square_tiles(h, w, s.tile_overlap, s.max_tiles) if s.tile else [(0, 0, w, h)]
        if len(boxes) == 1:
            return self._run(image)
        if h > w:
            # Tiles of a tall picture cut people across the body: a tile holding only legs shows
            # the model no person at all. The whole (squashed) frame keeps them whole.
            prob = self._run(image)
        else:
            prob = np.zeros((h, w), np.float32)  # tiles as tall as the frame keep people whole
        for x0, y0, x1, y1 in boxes:
            tile = self._run(np.ascontiguousarray(image[y0:y1, x0:x1]))
            np.maximum(prob[y0:y1, x0:x1], tile, out=prob[y0:y1, x0:x1])
        return prob

    def twin(self) -> PersonSegmenter:
        """Another segmenter with these settings and this model, its own MediaPipe graph: what a second thread runs
        crops on (one graph takes one call at a time). The caller closes it."""
        if self._closed:
            raise RuntimeError("PersonSegmenter is closed")
        return PersonSegmenter(self.settings, model_path=self._model_path, progress=False)

    def run(self, image: np.ndarray) -> np.ndarray:
        """The model's person probability for one RGB uint8 picture, as it is (no tiles, no crops)."""
        if self._closed:
            raise RuntimeError("PersonSegmenter is closed")
        return self._run(image)

    def _run(self, image: np.ndarray) -> np.ndarray:
        mp = import_mediapipe()
        result = self._segmenter.segment(mp.Image(image_format=mp.ImageFormat.SRGB, data=image))
        masks = result.confidence_masks or []
        if not masks:
            raise ModelError("the segmenter returned no confidence mask")
        person = masks[0] if len(masks) == 1 else masks[-1]  # 2 outputs: background, person
        out = np.asarray(person.numpy_view(), dtype=np.float32)
        if out.ndim == 3:
            out = out[..., 0]
        if out.shape != image.shape[:2]:
            out = cv2.resize(out, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
        return np.clip(out, 0.0, 1.0)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._segmenter.close()

    def __enter__(self) -> PersonSegmenter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def square_tiles(h: int, w: int, overlap: float, max_tiles: int = 4) -> list[Box]:
    """Square tiles of side min(h, w) covering the image, neighbours overlapping by >= ``overlap``.

    An image within 1.3:1 of square is one tile (the whole image): squashing it that little
    costs less than a seam. Beyond ``max_tiles`` (panoramas) the tiles stretch along the long
    side instead of multiplying.
    """
    side = min(h, w)
    long = max(h, w)
    if long <= 1.3 * side:
        return [(0, 0, w, h)]
    count = int(np.ceil((long - side) / (side * (1.0 - overlap)))) + 1
    if count > max_tiles:
        count = max_tiles
        span = int(np.ceil(long / (count - (count - 1) * overlap)))
    else:
        span = side
    starts = np.linspace(0, long - span, count).round().astype(int)
    if w >= h:
        return [(int(s), 0, int(s) + span, h) for s in starts]
    return [(0, int(s), w, int(s) + span) for s in starts]


def _holds(box: Box, people: Sequence[tuple[float, float, float, float]]) -> bool:
    """True when the middle of one of ``people``'s boxes lies in ``box``."""
    x0, y0, x1, y1 = box
    return any(x0 <= 0.5 * (p[0] + p[2]) < x1 and y0 <= 0.5 * (p[1] + p[3]) < y1 for p in people)


def _clip(box: Box, w: int, h: int) -> Box:
    x0, y0, x1, y1 = box
    return (max(0, x0), max(0, y0), min(w, x1), min(h, y1))


def _square_crop(box: Box, margin: float, w: int, h: int) -> Box:
    """A square around ``box`` with ``margin`` x its larger side added, shifted inside the image."""
    x0, y0, x1, y1 = box
    side = int(round(max(x1 - x0, y1 - y0) * (1.0 + 2.0 * margin)))
    cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
    sw, sh = min(side, w), min(side, h)
    nx0 = int(round(min(max(cx - sw / 2, 0), w - sw)))
    ny0 = int(round(min(max(cy - sh / 2, 0), h - sh)))
    return (nx0, ny0, nx0 + sw, ny0 + sh)


def _contains(outer: Box, inner: Box) -> bool:
    """True when ``inner`` lies (almost entirely) inside ``outer``."""
    ix0, iy0 = max(outer[0], inner[0]), max(outer[1], inner[1])
    ix1, iy1 = min(outer[2], inner[2]), min(outer[3], inner[3])
    inter = max(0, ix1 - ix0) * max(0, iy1 - iy0)
    area = max(1, (inner[2] - inner[0]) * (inner[3] - inner[1]))
    return inter >= 0.9 * area


def _inner_weight(h: int, w: int, *, at_edge: tuple[bool, bool, bool, bool]) -> np.ndarray:
    """1 inside the crop, ramping to 0 over its outer 8% (except along the image's own border)."""
    ramp = max(2, int(0.08 * min(h, w)))
    top, bottom, left, right = at_edge
    ys = np.arange(h, dtype=np.float32)
    xs = np.arange(w, dtype=np.float32)
    wy = np.ones(h, np.float32)
    wx = np.ones(w, np.float32)
    if not top:
        wy = np.minimum(wy, (ys + 0.5) / ramp)
    if not bottom:
        wy = np.minimum(wy, (h - ys - 0.5) / ramp)
    if not left:
        wx = np.minimum(wx, (xs + 0.5) / ramp)
    if not right:
        wx = np.minimum(wx, (w - xs - 0.5) / ramp)
    return np.clip(np.outer(wy, wx), 0.0, 1.0).astype(np.float32)


def _model_file(model_path: str | Path | None, progress: bool) -> Path:
    from vidbokeh.stages import assets

    return Path(model_path) if model_path is not None else assets.model_path(assets.SELFIE_SEGMENTER, progress=progress)


def _create_mediapipe(path: Path):
    try:
        import_mediapipe()
        from mediapipe.tasks.python import BaseOptions, vision

        options = vision.ImageSegmenterOptions(
            base_options=BaseOptions(model_asset_path=str(path)),
            running_mode=vision.RunningMode.IMAGE,
            output_confidence_masks=True,
            output_category_mask=False,
        )
        return vision.ImageSegmenter.create_from_options(options)
    except (ImportError, RuntimeError, ValueError, OSError) as exc:
        raise ModelError(f"MediaPipe selfie segmenter could not load {path}: {exc}") from exc
