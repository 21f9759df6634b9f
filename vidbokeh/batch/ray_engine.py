"""``--engine ray``: Ray Data spreads the units over a pool of actors, each keeping its models loaded.

The units become a dataset of one row per unit (one block each, so any worker can take any unit) and
``map_batches`` runs them through ``RayWorker``, a callable class: Ray Data starts a fixed pool of
actors, each of whose ``__init__`` loads the models once, and sends every unit to one of them. The pool
is sized to the cluster: one actor per GPU when there are GPUs (each with its GPU), else ``--workers``
actors (default: one per two CPUs) sharing the CPUs. An actor whose process dies (killed, out of memory,
node lost) is restarted and the unit it held is retried: Ray Data gives its actor pools unbounded actor
restarts and task retries, and the worker bounds them per unit (a unit whose worker died
``worker.MAX_ATTEMPTS`` times fails with a line saying so, instead of killing workers forever). A unit
that fails on its own (bad input) comes back as a failed result and is not retried.

Without an address a private Ray instance is started on this machine, bound to 127.0.0.1, with a small
object store and no dashboard, and stopped at the end; with one (``--ray-address HOST:PORT`` or
``ray://...``) the batch joins that cluster. Workers read the inputs and write the outputs by path, so
on a cluster every node must see the same paths (shared storage) and have the model weights.
"""
from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ..errors import UsageError
from .units import Unit, UnitResult, WorkerJob

log = logging.getLogger(__name__)

#: Object store of a private instance: rows are short JSON strings, frames never travel through it.
LOCAL_OBJECT_STORE_BYTES = 128 * 1024**2


def import_ray(private_instance: bool):
    """Import Ray (and Ray Data), or raise a one-line error naming the extra to install."""
    if private_instance and "ray" not in sys.modules:
        # Ray binds a single-machine instance to the loopback address only where it expects no cluster
        # (its Windows/macOS rule); ask for that here, before Ray reads its constants at import.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise UsageError("--engine ray needs Ray: pip install 'vidbokeh[ray]'") from None
    _quiet_ray()
    return ray


def _quiet_ray() -> None:
    """Ray's own notices (start-up, token, dataset progress) only when vidbokeh itself logs at DEBUG;
    its errors always. Ray sets up its loggers when imported, so this comes after the import."""
    level = logging.DEBUG if log.isEnabledFor(logging.DEBUG) else logging.ERROR
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(level)


@dataclass(frozen=True)
class RaySettings:
    address: str | None = None  # None: a private instance on this machine
    workers: int | None = None  # None: one per GPU, else one per two CPUs
    cpus: int | None = None  # CPUs of a private instance (None: all of this machine's)

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise UsageError(f"--workers must be >= 1, got {self.workers}")
        if self.cpus is not None and self.cpus < 1:
            raise UsageError(f"Ray CPUs must be >= 1, got {self.cpus}")


class RayWorker:
    """A Ray Data actor: one ``Worker`` (models loaded once, in ``__init__``) for every unit it gets."""

    def __init__(self, job: WorkerJob, kinds: tuple[str, ...]) -> None:
        from .worker import Worker

        self.worker = Worker(job)
        self.worker.preload(kinds)

    def __call__(self, batch: dict) -> dict:
        results = [self.worker.run(Unit.from_json(str(text))).to_json() for text in batch["unit"]]
        return {"result": results}


def pool_shape(resources: dict[str, float], workers: int | None) -> tuple[int, float, float]:
    """(actors, CPUs per actor, GPUs per actor) for a cluster with these total resources."""
    gpus = int(resources.get("GPU", 0))
    cpus = float(resources.get("CPU", 1))
    if gpus >= 1:
        n = workers or gpus
        return n, cpus / n, min(1.0, gpus / n)
    n = workers or max(1, int(cpus // 2))
    return n, cpus / n, 0.0


class RayEngine:
    name = "ray"

    def __init__(self, job: WorkerJob, settings: RaySettings = RaySettings()) -> None:
        self.job = job
        self.settings = settings
        self.ray = import_ray(settings.address is None)
        self.workers = 0

    def _connect(self) -> bool:
        """Start or join Ray unless this process already is connected; True when we started it."""
        ray = self.ray
        if ray.is_initialized():
            return False
        if self.settings.address is None:
            ray.init(address="local", num_cpus=self.settings.cpus, include_dashboard=False,
                     object_store_memory=LOCAL_OBJECT_STORE_BYTES, log_to_driver=False,
                     logging_level=logging.getLogger("ray").level)
        else:
            try:
                ray.init(address=self.settings.address, log_to_driver=False,
                         logging_level=logging.getLogger("ray").level)
            except (ConnectionError, ValueError) as exc:
                raise UsageError(f"--ray-address {self.settings.address}: cannot join the cluster ({exc})") from exc
        return True

    def run(self, units: Sequence[Unit]) -> Iterator[UnitResult]:
        if not units:
            return
        ray = self.ray
        started = self._connect()
        try:
            context = ray.data.DataContext.get_current()
            context.enable_progress_bars = False  # the batch shows its own progress
            context.print_on_execution_start = False
            _quiet_ray()  # ray.init configured its loggers again
            n, cpus, gpus = pool_shape(ray.cluster_resources(), self.settings.workers)
            n = min(n, len(units))
            self.workers = n
            log.info("ray: %d worker%s, %.2g CPUs and %.2g GPUs each", n, "s" if n > 1 else "", cpus, gpus)
            kinds = tuple(sorted({u.kind for u in units}))
            rows = ray.data.from_items([{"unit": u.to_json()} for u in units], override_num_blocks=len(units))
            results = rows.map_batches(
                RayWorker, fn_constructor_kwargs={"job": self.job, "kinds": kinds}, batch_size=1,
                compute=ray.data.ActorPoolStrategy(size=n), num_cpus=cpus, num_gpus=gpus or None,
            )
            for row in results.iter_rows():
                yield UnitResult.from_json(str(row["result"]))
        finally:
            if started:
                ray.shutdown()
