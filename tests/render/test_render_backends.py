"""One renderer, two backends: the torch array operations against the OpenCV ones.

Parity on the shared portraits (../shared/samples/portraits, ../shared/samples/images) and frames of
a shared clip (../shared/samples/videos): the torch backend's output is within 40 dB PSNR of the
OpenCV backend's on the uniform and the layered paths, bloom on and off, circular and 3- to 8-blade
apertures, and protected pixels are bit-exact. Runs on the CPU; the ``gpu`` tests run the same
checks on CUDA and skip without it.
"""
from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from vidbokeh.errors import UsageError
from vidbokeh.render import BokehSettings, get_ops, render_bokeh, render_uniform, resolve_frame_backend
from vidbokeh.render.ops_opencv import OPENCV

MIN_PSNR = 40.0
WIDTH = 320  # parity holds at any size; this keeps the torch-on-CPU renders short
BLADES = (None, 3, 4, 5, 6, 7, 8)
CUDA = torch.cuda.is_available()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0.0 else 10.0 * math.log10(255.0**2 / mse)


def _resized(rgb: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    h, w = rgb.shape[:2]
    size = (WIDTH, max(8, round(h * WIDTH / w)))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return small, None if mask is None else cv2.resize(mask, size, interpolation=cv2.INTER_AREA)


def _clip_frames(path: Path, picks: tuple[int, ...]) -> list[np.ndarray]:
    import av

    frames = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in picks:
                frames.append(frame.to_ndarray(format="rgb24"))
            if i >= max(picks):
                break
    return frames


def _scenes(samples: Path) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    """(name, RGB, person mask in [0, 1] or None) for the portraits, the images and clip frames."""
    scenes = []
    portraits = samples / "portraits"
    for image in sorted((portraits / "images").glob("*.jpg"))[::3]:
        mask = cv2.imread(str(portraits / "masks" / f"{image.stem}.png"), cv2.IMREAD_GRAYSCALE)
        rgb = cv2.imread(str(image), cv2.IMREAD_COLOR)[:, :, ::-1]
        scenes.append((image.stem, *_resized(rgb, None if mask is None else mask.astype(np.float32) / 255.0)))
    for image in sorted((samples / "images").glob("*_portrait.jpg")):
        scenes.append((image.stem, *_resized(cv2.imread(str(image), cv2.IMREAD_COLOR)[:, :, ::-1], None)))
    for i, frame in enumerate(_clip_frames(samples / "videos" / "sam2_juggle.mp4", (0, 60))):
        scenes.append((f"sam2_juggle_{i}", *_resized(frame, None)))
    if not scenes:
        pytest.skip(f"no sample images under {samples} (../shared/samples)")
    return scenes


def _maps(rgb: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(protect, signed CoC): the person (or a centred ellipse) sharp, the background receding
    upwards behind it, a near object in front in the lower left corner."""
    h, w = rgb.shape[:2]
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    if mask is None:
        mask = (((xx - 0.5 * w) / (0.3 * w)) ** 2 + ((yy - 0.62 * h) / (0.55 * h)) ** 2 < 1.0).astype(np.float32)
    protect = np.clip(cv2.GaussianBlur(mask, (0, 0), 2.0) * 1.2, 0.0, 1.0)
    coc = (2.0 + 14.0 * (1.0 - yy / h) + 2.0 * np.sin(xx / w * 9.0)).astype(np.float32)
    coc[protect > 0.5] = 0.0
    coc[(xx < 0.15 * w) & (yy > 0.7 * h)] = -7.0
    return protect, coc


def _check_parity(reference: np.ndarray, out: np.ndarray, rgb: np.ndarray, protect: np.ndarray, what: str) -> None:
    assert out.dtype == np.uint8 and out.shape == rgb.shape, what
    assert psnr(reference, out) >= MIN_PSNR, f"{what}: {psnr(reference, out):.1f} dB"
    sharp = protect >= 1.0
    assert sharp.any()
    assert np.array_equal(out[sharp], rgb[sharp]), f"{what}: protected pixels changed"
    assert not np.array_equal(out[~sharp], rgb[~sharp]), f"{what}: nothing was blurred"


def _parity_on(device: str, samples: Path) -> list[float]:
    torch_ops = get_ops("torch", device)
    figures = []
    for index, (name, rgb, mask) in enumerate(_scenes(samples)):
        protect, coc = _maps(rgb, mask)
        radius = 0.03 * math.hypot(*rgb.shape[:2])
        for k, bloom in enumerate((False, True)):
            blades = BLADES[(2 * index + k) % len(BLADES)]
            settings = BokehSettings(aperture_blades=blades, aperture_rotation_deg=15.0 * index,
                                     highlight_bloom=bloom)
            for path, render in (("uniform", lambda ops: render_uniform(rgb, radius, protect, settings, ops=ops)),
                                 ("layered", lambda ops: render_bokeh(rgb, coc, protect, settings, ops=ops))):
                reference, out = render(OPENCV), render(torch_ops)
                _check_parity(reference, out, rgb, protect, f"{name} {path} bloom={bloom} blades={blades}")
                figures.append(psnr(reference, out))
    return figures


def test_torch_backend_matches_opencv_on_shared_portraits_and_clip(samples_dir: Path):
    figures = _parity_on("cpu", samples_dir)
    assert len(figures) >= 24


@pytest.mark.parametrize("blades", BLADES)
def test_every_aperture_matches_with_and_without_bloom(blades):
    rng = np.random.default_rng(blades or 0)
    rgb = cv2.GaussianBlur(rng.integers(0, 256, (90, 120, 3), dtype=np.uint8), (0, 0), 1.0)
    rgb[20:24, 30:34] = 255  # point lights for the bloom
    protect, coc = _maps(rgb, None)
    for bloom in (False, True):
        settings = BokehSettings(aperture_blades=blades, highlight_bloom=bloom)
        for render in (lambda ops: render_uniform(rgb, 6.5, protect, settings, ops=ops),
                       lambda ops: render_bokeh(rgb, coc, protect, settings, ops=ops),
                       lambda ops: render_bokeh(rgb, np.abs(coc), None, settings, ops=ops)):
            reference, out = render(OPENCV), render(get_ops("torch", "cpu"))
            assert psnr(reference, out) >= MIN_PSNR, (blades, bloom)


def test_float_input_and_device_frames():
    """Float RGB takes the float paths on both backends; a uint8 tensor is taken as a device frame."""
    rng = np.random.default_rng(7)
    rgb = cv2.GaussianBlur(rng.integers(0, 256, (64, 80, 3), dtype=np.uint8), (0, 0), 1.5)
    protect, coc = _maps(rgb, None)
    unit = rgb.astype(np.float32) / 255.0
    ops = get_ops("torch", "cpu")
    assert psnr(render_uniform(unit, 5.0, protect), render_uniform(unit, 5.0, protect, ops=ops)) >= MIN_PSNR
    assert psnr(render_bokeh(unit, coc, protect), render_bokeh(unit, coc, protect, ops=ops)) >= MIN_PSNR
    on_device = render_bokeh(torch.from_numpy(rgb), torch.from_numpy(coc), torch.from_numpy(protect), ops=ops)
    assert isinstance(on_device, np.ndarray)
    assert np.array_equal(on_device, render_bokeh(rgb, coc, protect, ops=ops))


def test_primitives_agree():
    """The torch primitives against OpenCV's: copies exact, arithmetic within float noise."""
    rng = np.random.default_rng(3)
    t = get_ops("torch", "cpu")
    img = rng.random((23, 37, 4), dtype=np.float32)
    u8 = rng.integers(0, 256, (24, 36, 3), dtype=np.uint8)
    both = lambda fn, *args: (OPENCV.download(fn(OPENCV, *args)),  # noqa: E731
                              t.download(fn(t, *[t.upload(a) if isinstance(a, np.ndarray) else a for a in args])))
    a, b = both(lambda o, x: o.window(x, -30, 60, -5, 80), img)  # mirrored further than the image is large
    assert np.array_equal(a, b)
    for kernel in (np.full((5, 5), 1 / 25, np.float32), rng.random((41, 41)).astype(np.float32)):
        a, b = both(lambda o, x: o.filter2d(x, kernel), img)
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    for border in ("reflect", "replicate"):
        for ksize in (7, 21):  # 21: wider than half the map (every border index mirrored or clamped)
            a, b = both(lambda o, x: o.box_filter(x, ksize, border), img[..., 0].copy())
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    a, b = both(lambda o, x: o.dilate(x, 4), (img[..., 1] > 0.97).astype(np.float32))
    assert np.array_equal(a, b)
    a, b = both(lambda o, x: o.downsample(x, 2), u8)
    assert np.array_equal(a, b)
    a, b = both(lambda o, x: o.upsample(x, 4), u8)
    assert np.abs(a.astype(int) - b).max() <= 1
    a, b = both(lambda o, x, w: o.blend_u8(x, 255 - x, w), u8, rng.random((24, 36), dtype=np.float32))
    assert np.array_equal(a, b)
    table = np.linspace(0.0, 2.0, 256, dtype=np.float32)
    a, b = both(lambda o, x: o.lut(x, table), u8)
    assert np.array_equal(a, b)
    index = rng.integers(0, 23 * 37, 50)
    assert np.array_equal(OPENCV.take(img[..., 2].copy(), index), t.take(t.upload(img[..., 2].copy()), index))
    holes = img[..., 0].copy()
    holes[2, 3], holes[5, 6] = np.nan, -np.inf
    a, b = both(lambda o, x: o.finite(x), holes)
    assert np.array_equal(a, b) and int(a.sum()) == holes.size - 2


def test_displace_matches_remap():
    """The live carry's resampling: the torch grid_sample against cv2.remap (which rounds positions to 1/32 px),
    past the edges too, on a smooth map."""
    t = get_ops("torch", "cpu")
    h, w = 45, 64
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    depth = np.sin(xx / 7.0) + np.cos(yy / 5.0)
    flow = np.stack([3.3 * np.sin(yy / 9.0) - 2.0, 2.7 * np.cos(xx / 11.0) + 1.0], axis=-1).astype(np.float32)
    a = OPENCV.displace(depth, flow)
    b = t.download(t.displace(t.upload(depth), t.upload(flow)))
    assert np.abs(a - b).max() < 0.02  # 1/32 px of a slope of at most 1/5 per px, plus the fixed-point weights
    assert np.abs(a - depth).max() > 0.5  # it moved
    zero = np.zeros_like(flow)
    np.testing.assert_allclose(t.download(t.displace(t.upload(depth), t.upload(zero))), depth, atol=1e-5)


def test_focus_and_coc_agree_on_both_backends(samples_dir: Path):
    """stages/focus.py is written once over the ops: the focus plane and the CoC map from torch tensors match
    the OpenCV backend's (NaN holes, a face, a person mask of another size, the Otsu split, the foreground)."""
    from vidbokeh.stages.focus import FocusSettings, choose_focus, coc_map, normalise_depth

    t = get_ops("torch", "cpu")
    rgb = _scenes(samples_dir)[0][1]
    h, w = rgb.shape[:2]
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    depth = cv2.GaussianBlur(grey, (0, 0), 6.0) * 0.01 + np.linspace(0.0, 2.0, h, dtype=np.float32)[:, None]
    depth[5:15, 10:30] = np.nan
    protect, _ = _maps(rgb, None)
    small_mask = cv2.resize(protect, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    face = (0.4 * w, 0.2 * h, 0.6 * w, 0.4 * h)
    cases = [({}, [], protect), ({}, [face], None), ({}, [], small_mask), ({"histogram_split": True}, [], protect),
             ({"blur_foreground": True, "dof": 0.02}, [], None), ({"focus_point": (0.3, 0.7)}, [], None)]
    for knobs, faces, mask in cases:
        settings = FocusSettings(**knobs)
        norm = normalise_depth(depth, settings)
        norm_t = normalise_depth(torch.from_numpy(depth), settings, t)
        assert isinstance(norm_t, torch.Tensor)
        np.testing.assert_allclose(norm_t.numpy(), norm, atol=1e-6)
        focus = choose_focus(depth, faces, mask, settings, norm=norm)
        focus_t = choose_focus(None, faces, None if mask is None else torch.from_numpy(mask), settings, norm=norm_t,
                               ops=t)
        assert abs(focus - focus_t) < 1e-6, knobs
        coc = coc_map(depth, focus, settings, math.hypot(h, w), norm=norm)
        coc_t = coc_map(None, focus_t, settings, math.hypot(h, w), norm=norm_t, ops=t)
        assert np.abs(coc_t.numpy() - coc).max() < 1e-3, knobs
        assert coc.max() > 1.0 and (coc.min() < -1.0) == settings.blur_foreground


def test_reductions_agree():
    """The focus stage's reductions: percentiles over finite values, medians (even counts averaged), counts,
    8-bit histograms, and the float32 ramp."""
    rng = np.random.default_rng(11)
    t = get_ops("torch", "cpu")
    x = rng.normal(size=(37, 52)).astype(np.float32)
    x[3, :9] = np.nan
    x[4, :2] = np.inf
    inside = x > 0.3
    assert t.percentiles(t.upload(x), (2.0, 50.0, 98.0)) == pytest.approx(OPENCV.percentiles(x, (2.0, 50.0, 98.0)),
                                                                           abs=1e-6)
    assert t.percentiles(t.upload(np.full((3, 3), np.nan, np.float32)), (50.0,)) is None
    finite = np.nan_to_num(x, nan=0.0, posinf=0.0)
    for values, where in ((finite, None), (finite, inside), (finite[:, :51], None)):  # odd and even counts
        tw = None if where is None else torch.from_numpy(where)
        assert t.median(t.upload(values), tw) == OPENCV.median(values, where)
    assert t.count(torch.from_numpy(inside)) == OPENCV.count(inside) == int(inside.sum())
    u8 = rng.integers(0, 256, (40, 30), dtype=np.uint8)
    assert np.array_equal(t.histogram_u8(t.upload(u8)), OPENCV.histogram_u8(u8))
    for lo, hi in ((None, None), (0.0, 1.5)):
        np.testing.assert_array_equal(t.download(t.ramp(t.upload(finite), 0.25, -3.0, lo, hi)),
                                      OPENCV.ramp(finite, 0.25, -3.0, lo, hi))


def test_backend_choice():
    assert resolve_frame_backend("auto", "cpu") == "opencv"
    assert resolve_frame_backend("auto", None) == ("torch" if CUDA else "opencv")  # torch is loaded here
    assert resolve_frame_backend("auto", "cuda:0") == "torch"
    assert resolve_frame_backend("auto", "mps") == "torch"
    assert resolve_frame_backend("torch", "cpu") == "torch"
    assert get_ops("opencv") is OPENCV
    assert get_ops("torch", "cpu") is get_ops("torch", "cpu")
    assert get_ops("torch", "auto").device.type == ("cuda" if CUDA else "cpu")
    with pytest.raises(UsageError, match="frame backend"):
        resolve_frame_backend("cupy", "cpu")


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
def test_cuda_backend_matches_opencv(samples_dir: Path):
    assert min(_parity_on("cuda", samples_dir)) >= MIN_PSNR


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
def test_cuda_out_of_memory_is_one_line_naming_what_to_lower():
    from vidbokeh.errors import DeviceMemoryError

    ops = get_ops("torch", "cuda")
    rgb = np.zeros((4320, 7680, 3), np.uint8)
    coc = np.full(rgb.shape[:2], 40.0, np.float32)
    torch.cuda.empty_cache()
    torch.cuda.set_per_process_memory_fraction(0.002)
    try:
        with pytest.raises(DeviceMemoryError) as caught:
            render_bokeh(rgb, coc, None, ops=ops)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        torch.cuda.empty_cache()
    message = str(caught.value)
    assert "\n" not in message and "--max-blur" in message and "--depth-size" in message
    out = render_bokeh(rgb[:720, :1280], coc[:720, :1280], None, ops=ops)  # the device works again
    assert out.shape == (720, 1280, 3)


def test_guided_filter_on_both_backends(samples_dir: Path):
    """The mask's guided-filter refinement (stages/guided.py) over the torch operations agrees with OpenCV's."""
    from vidbokeh.stages.guided import guided_refine

    portraits = samples_dir / "portraits"
    image = sorted((portraits / "images").glob("*.jpg"))[0]
    rgb = np.ascontiguousarray(cv2.imread(str(image), cv2.IMREAD_COLOR)[:, :, ::-1])
    mask = cv2.imread(str(portraits / "masks" / f"{image.stem}.png"), cv2.IMREAD_GRAYSCALE)
    mask = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), 4.0)  # a segmenter's soft outline
    ops = get_ops("torch", "cpu")
    for radius, eps, max_side in ((8, 1e-3, 320), (4, 1e-2, 4096)):
        reference = guided_refine(rgb, mask, radius, eps, max_side)
        out = ops.download(guided_refine(rgb, mask, radius, eps, max_side, ops=ops))
        assert out.dtype == np.float32 and out.shape == mask.shape
        assert float(np.abs(out - reference).max()) < 0.02
        assert float(np.abs(out - reference).mean()) < 1e-4
        assert float(np.abs(reference - mask).max()) > 0.1  # the refinement did move the outline


def test_resize_and_luma_agree():
    rng = np.random.default_rng(5)
    t = get_ops("torch", "cpu")
    u8 = cv2.GaussianBlur(rng.integers(0, 256, (101, 157, 3), dtype=np.uint8), (0, 0), 1.0)
    assert np.array_equal(OPENCV.luma(u8), t.download(t.luma(t.upload(u8))))
    small = rng.random((101, 157), dtype=np.float32)
    for size in ((40, 27), (157 // 2, 101 // 2)):  # a fractional and an (almost) integer shrink
        np.testing.assert_allclose(OPENCV.resize(small, size, "area"),
                                   t.download(t.resize(t.upload(small), size, "area")), atol=1e-5)
    np.testing.assert_allclose(OPENCV.resize(small, (300, 211), "linear"),
                               t.download(t.resize(t.upload(small), (300, 211), "linear")), atol=2e-4)


def test_engine_renders_with_the_chosen_frame_backend(samples_dir: Path):
    """EffectSettings.frame_backend reaches the renderer: both backends give the same picture through the engine."""
    from vidbokeh.engine import EffectSettings, load_models, render_still

    with pytest.raises(UsageError, match="frame backend"):
        EffectSettings(frame_backend="cupy")
    rgb = _resized(cv2.imread(str(samples_dir / "images" / "obama_official_portrait.jpg"))[:, :, ::-1], None)[0]
    outputs = {}
    settings = EffectSettings(approach="selfie", frame_backend="opencv")
    with load_models(settings) as models:
        for backend in ("opencv", "torch", "auto"):
            chosen = EffectSettings(approach="selfie", frame_backend=backend, device="cpu")
            outputs[backend] = render_still(models, rgb, chosen).output
    assert psnr(outputs["opencv"], outputs["torch"]) >= MIN_PSNR
    assert np.array_equal(outputs["auto"], outputs["opencv"])  # auto on a CPU is OpenCV
    assert not np.array_equal(outputs["opencv"], rgb)
