"""``--engine local``: this process, one worker, units in order.

The worker loads its models once and keeps them for the whole batch. It uses what the machine has:
depth runs on the GPU when there is one (``--device auto``) and on all the cores' threads otherwise,
and a segment's decoding and encoding overlap with the effect (vidbokeh/pipeline/).
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

from .units import Unit, UnitResult, WorkerJob
from .worker import Worker


class LocalEngine:
    name = "local"

    def __init__(self, job: WorkerJob) -> None:
        self.job = job
        self.workers = 1

    def run(self, units: Sequence[Unit]) -> Iterator[UnitResult]:
        with Worker(self.job) as worker:
            for unit in units:
                yield worker.run(unit)
