"""The bokeh stage: the renderer's entry points (the renderer itself lives in ``vidbokeh/render``).

    render_bokeh(rgb, coc, protect=None, settings=BokehSettings(), ops=...) -> uint8 HxWx3
    render_uniform(rgb, radius_px, protect, settings=BokehSettings(), ops=...) -> uint8 HxWx3
"""
from __future__ import annotations

from vidbokeh.render import BokehSettings, disc_kernel, get_ops, layer_radii, render_bokeh, render_uniform

__all__ = ["BokehSettings", "render_bokeh", "render_uniform", "disc_kernel", "layer_radii", "get_ops"]
