"""Imports every family module so that each registers its variants."""
from . import depth_anything  # noqa: F401  (Depth-Anything V1/V2, ViT-S/B/L)
from . import midas  # noqa: F401  (MiDaS v3 DPT-Hybrid, DPT-Large)
from . import midas_levit  # noqa: F401  (MiDaS v3.1 LeViT-224)
from . import midas_small  # noqa: F401  (MiDaS v2.1 small, EfficientNet-Lite3)
from . import midas_swin2  # noqa: F401  (MiDaS v3.1 Swin2-T 256)
