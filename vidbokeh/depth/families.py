"""Imports every family module so that each registers its variants."""
from . import depth_anything  # noqa: F401
from . import midas  # noqa: F401
