"""``vidbokeh batch``: many photos and videos, on this machine or a Ray cluster.

    from vidbokeh.batch import BatchSettings, run_batch
    report = run_batch(["shoot/"], "out/", EffectSettings(approach="selfie"), BatchSettings(engine="ray"))

Modules: ``inputs`` (what to process, where it goes), ``manifest`` (what is done), ``segments`` (cutting
videos at keyframes), ``units`` (the work handed out), ``worker`` (models loaded once, units run),
``local`` and ``ray_engine`` (who runs the units), ``join`` (segments back into one file), ``runner``
(the driver tying them together).
"""
from __future__ import annotations

from .runner import BatchProgress, BatchReport, BatchSettings, ItemOutcome, run_batch
from .segments import SegmentPlan

__all__ = ["BatchProgress", "BatchReport", "BatchSettings", "ItemOutcome", "SegmentPlan", "run_batch"]
