"""The lens-blur renderer: layered disc (or polygon) kernels, premultiplied, far-to-near.

The path of one render, file by file:

- ``settings.py``  ``BokehSettings``: how the blur is drawn (aperture, bloom, layer spacing, cost caps);
- ``plan.py``      the layer plan: layer radii, each pixel's layer coordinate, the pyramid level per layer;
- ``kernels.py``   the aperture kernels (anti-aliased discs and polygons);
- ``tone.py``      display values <-> blurred values (linear light with a highlight boost for bloom);
- ``passes.py``    input checks, full-resolution passes over strips of rows, blurring a layer;
- ``pyramid.py``   the premultiplied image at each pyramid level with its layer coordinates;
- ``composite.py`` ``render_bokeh``: blur each layer, composite them far to near, blend over the input;
- ``uniform.py``   ``render_uniform``: the two-layer path (no depth);
- ``ops.py``       the array operations all of the above is written over, and ``get_ops`` to choose
                   their implementation: ``ops_opencv.py`` (numpy + OpenCV, the CPU default) or
                   ``ops_torch.py`` (torch tensors on any device).

Public API (all maps HxW, images HxWx3, same H and W):

    render_bokeh(rgb, coc, protect=None, settings=BokehSettings(), ops=OPENCV) -> uint8 HxWx3
    render_uniform(rgb, radius_px, protect, settings=BokehSettings(), ops=OPENCV) -> uint8 HxWx3
    disc_kernel(radius, blades=None, rotation_deg=0.0) -> float32 kernel summing to 1
    layer_radii(max_radius, settings) -> the blur radius of every layer (index 0 = sharp)
    get_ops(backend="opencv"|"torch"|"auto", device=None) -> ArrayOps

All functions are pure (the only shared state is caches of kernels), so several threads may
render at once.
"""
from __future__ import annotations

import importlib

_HOMES = {
    "render_bokeh": "composite", "render_uniform": "uniform", "disc_kernel": "kernels", "layer_radii": "plan",
    "BokehSettings": "settings", "ArrayOps": "ops", "get_ops": "ops", "resolve_frame_backend": "ops",
    "FRAME_BACKENDS": "ops",
}
__all__ = list(_HOMES)


def __getattr__(name: str):
    """Names are imported on first use: ``vidbokeh.render.ops`` (the backend choices) stays free of OpenCV."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
