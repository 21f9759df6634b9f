"""Peak memory of one approach's run (model load + every image).

On Linux the process's peak resident set (VmHWM) is reset through
``/proc/self/clear_refs`` before the run, so each approach gets its own peak,
reported as growth over the resident set at the start. Elsewhere the fallback is
the growth of ``ru_maxrss``, which stays 0 when an earlier approach peaked
higher (the report says which method was used). GPU memory is
``torch.cuda.max_memory_allocated`` when the approach runs on CUDA.
"""
from __future__ import annotations

import ctypes
import gc
import resource
import sys
from dataclasses import dataclass
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")

METHOD_HWM = ("peak RSS growth over the run (Linux VmHWM reset per approach, freed heap returned to the "
              "OS first with malloc_trim)")
METHOD_MAXRSS = "growth of the process's peak RSS (ru_maxrss; 0 if an earlier approach peaked higher)"


def _status_kib(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _trim_heap() -> None:
    """Give freed heap pages back to the OS (glibc), so an earlier approach's freed memory is not
    silently reused by the next one without showing in its RSS growth."""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _maxrss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


@dataclass(frozen=True)
class MemoryPeak:
    cpu_bytes: int
    gpu_bytes: int | None
    method: str


class PeakMemoryMeter:
    """Start before the model load, ``stop()`` after the last image."""

    def __init__(self, uses_torch: bool = False) -> None:
        gc.collect()
        _trim_heap()
        self._method = METHOD_MAXRSS
        self._baseline = _maxrss_bytes()
        rss = _status_kib("VmRSS")
        if rss is not None:
            try:
                _CLEAR_REFS.write_text("5")  # resets VmHWM to the current RSS
                self._method = METHOD_HWM
                self._baseline = rss * 1024
            except OSError:
                pass
        self._cuda = False
        torch = sys.modules.get("torch")
        if torch is None and uses_torch:
            import torch
        if torch is not None and torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
            self._cuda = True

    def stop(self, device: str | None) -> MemoryPeak:
        if self._method == METHOD_HWM:
            peak = (_status_kib("VmHWM") or 0) * 1024
        else:
            peak = _maxrss_bytes()
        gpu = None
        torch = sys.modules.get("torch")
        if torch is not None and device and str(device).startswith("cuda") and torch.cuda.is_available():
            gpu = int(torch.cuda.max_memory_allocated())
        return MemoryPeak(cpu_bytes=max(0, peak - self._baseline), gpu_bytes=gpu, method=self._method)
