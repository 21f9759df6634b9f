"""The live window's keys: what each does to the live controls (a frozen value the process stage reads)."""
from __future__ import annotations

from dataclasses import replace

from .engine import LiveControls

KEYS_HELP = "keys: q/Esc quit, +/- blur, [/] focus nearer/farther, 0 reset"
QUIT_KEYS = (ord("q"), 27)


def after_key(key: int, live: LiveControls) -> LiveControls:
    """The live controls after a key press (unchanged for keys that mean nothing)."""
    if key in (ord("+"), ord("=")):
        return replace(live, blur_scale=min(4.0, live.blur_scale * 1.25))
    if key in (ord("-"), ord("_")):
        return replace(live, blur_scale=max(0.0, live.blur_scale / 1.25))
    if key == ord("["):
        return replace(live, focus_offset=min(1.0, live.focus_offset + 0.05))
    if key == ord("]"):
        return replace(live, focus_offset=max(-1.0, live.focus_offset - 0.05))
    if key == ord("0"):
        return LiveControls()
    return live
