"""What the studio offers (GET /api/health, the page's menus): approaches, strategies, depth models, and
which of them run without a download."""
from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def _names() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], dict[str, str]]:
    from ..depth.registry import DEFAULT_MODELS, VARIANT_NAMES
    from ..engine import APPROACHES, strategy_names
    from ..stages.presets import DEFAULT_PRESET

    strategies = (DEFAULT_PRESET, *(name for name in strategy_names() if name != DEFAULT_PRESET))
    return APPROACHES, strategies, VARIANT_NAMES, dict(DEFAULT_MODELS)


def choices(server_weights: str | None = None) -> dict:
    """{"approaches": [{name, ready}], "strategies": [...], "models": [{name, family, cached}], ...}.

    ``ready``: runs now without downloading depth weights (selfie always; auto always, it falls back to
    selfie; a depth approach when its default model is cached, or is the one the server has a weights
    file for: ``server_weights``)."""
    from ..depth.registry import family_of
    from ..store import offline

    approaches, strategies, variants, defaults = _names()
    cached = {name: name == server_weights or _is_cached(name) for name in variants}
    depth_ready = {"depth_anything": cached[defaults["depth_anything"]], "midas": cached[defaults["midas"]],
                   "hybrid": cached[defaults["depth_anything"]]}
    return {
        "approaches": [{"name": a, "ready": depth_ready.get(a, True)} for a in approaches],
        "strategies": list(strategies),
        "models": [{"name": v, "family": family_of(v), "cached": cached[v]} for v in variants],
        "default_models": defaults,
        "offline": offline(),
    }


def _is_cached(name: str) -> bool:
    from ..depth.catalog import is_cached

    try:
        return is_cached(name)
    except OSError:
        return False
