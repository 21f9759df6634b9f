"""How the blur is drawn: ``BokehSettings`` (how much blur is the CoC map's job, see stages/focus.py)."""
from __future__ import annotations

from dataclasses import dataclass

from vidbokeh.errors import UsageError

__all__ = ["BokehSettings"]


@dataclass(frozen=True)
class BokehSettings:
    """How the blur is drawn (how much is the CoC map's job, see focus.FocusSettings)."""

    aperture_blades: int | None = None  # None: circular aperture; N >= 3: regular N-gon
    aperture_rotation_deg: float = 0.0  # rotation of the polygon (a vertex at this angle)
    highlight_bloom: bool = False  # blur in linear light and boost highlights into bright discs
    bloom_threshold: float = 0.7  # linear-light value above which a channel counts as highlight
    bloom_gain: float = 6.0  # what a pure white channel is worth while blurring (1 = no boost)
    layer_step: float = 1.0  # px between the first (small-radius) layers
    layer_ratio: float = 1.4  # radius ratio between consecutive larger layers
    max_layers: int = 24  # cap on blurred layers on each side of the focus plane
    lowres_radius: float = 8.0  # largest kernel radius (px) at the coarse levels (>= 2) a layer is blurred at
    full_resolution: bool = False  # blur every layer at full size (slow; a quality reference)
    protect_exclusion: float = 0.5  # pixels with protect >= this never feed a blurred layer

    def __post_init__(self) -> None:
        if self.aperture_blades is not None and self.aperture_blades < 3:
            raise UsageError(f"aperture_blades must be >= 3 or None, got {self.aperture_blades}")
        if not self.layer_ratio > 1.0:
            raise UsageError(f"layer_ratio must be > 1, got {self.layer_ratio}")
        if not self.layer_step > 0.0:
            raise UsageError(f"layer_step must be > 0, got {self.layer_step}")
        if self.max_layers < 1:
            raise UsageError(f"max_layers must be >= 1, got {self.max_layers}")
        if not self.lowres_radius >= 1.0:
            raise UsageError(f"lowres_radius must be >= 1, got {self.lowres_radius}")
        if not 0.0 < self.bloom_threshold < 1.0:
            raise UsageError(f"bloom_threshold must be in (0, 1), got {self.bloom_threshold}")
        if not self.bloom_gain >= 1.0:
            raise UsageError(f"bloom_gain must be >= 1, got {self.bloom_gain}")
        if not 0.0 < self.protect_exclusion <= 1.0:
            raise UsageError(f"protect_exclusion must be in (0, 1], got {self.protect_exclusion}")
