"""Choosing the approach: ``auto`` becomes a concrete approach and every depth approach gets its model.

Resolved once, before work is handed to anyone (threads, server requests, Ray workers), so they can never
disagree about it. ``auto`` looks only at the local weight cache: it never touches the network.
"""
from __future__ import annotations

import logging
from dataclasses import replace

from ..depth.registry import DEFAULT_MODELS
from .settings import EffectSettings

log = logging.getLogger(__name__)


def resolve_approach(settings: EffectSettings) -> EffectSettings:
    """``settings`` with ``approach`` never "auto" and ``model`` filled for a depth approach (None for selfie).

    Idempotent: resolved settings come back unchanged. The choice ``auto`` makes is logged."""
    approach, model = settings.approach, settings.model
    if approach == "selfie":
        return settings
    if approach == "auto":
        model = model or DEFAULT_MODELS["depth_anything"]
        if settings.weights is not None or _weights_cached(model):
            log.info("auto: using hybrid with %s", model)
            return replace(settings, approach="hybrid", model=model)
        why = f"no {model} weights cached; `vidbokeh models fetch {model}` enables hybrid depth"
        settings.refuse_depth_settings(f"auto chose selfie, which has none ({why})")  # before anything loads
        log.info("auto: using selfie (%s)", why)
        return replace(settings, approach="selfie", model=None)
    if model is not None:
        return settings
    return replace(settings, model=DEFAULT_MODELS["depth_anything" if approach == "hybrid" else approach])


def _weights_cached(model: str) -> bool:
    from ..depth.catalog import is_cached

    return is_cached(model)
