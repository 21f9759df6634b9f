"""The threaded producer-consumer pipeline and the small thread tools: the only package that knows about threads.

    source thread --(bounded queue)--> process thread --(bounded queue)--> sink (thread or main)

* A file source is read with back-pressure: the source blocks (in short, stop-aware waits) while the
  queue is full, so no frame is ever lost.
* A live source (camera) keeps only the newest frames: when the queue is full the oldest waiting frame
  is dropped and counted.
* One stop event. Every queue put/get uses a timeout and re-checks it, so a failed consumer can never
  leave a producer blocked forever. The first exception of any thread is kept, the others stop within
  ``poll`` seconds, and ``run`` re-raises it in the caller's thread after joining every thread in order.
* The sink runs in its own thread, or in the calling thread when it must; then the caller's thread also
  receives Ctrl-C directly.
* A display (an OpenCV preview window: safest on the main thread) runs in the calling thread and is
  never in the way: it is handed the newest result, replacing one it has not taken yet (counted in
  ``not_shown``), so showing a frame never holds up processing or writing.

Stages, sources and sinks know nothing of threads: a source is an iterable of items, ``process`` is a
function from a list of items (a batch) to a list of results, ``sink`` is a function taking one result and
returning False to ask for a stop; ``display`` takes the newest result, or None when none came within
``poll`` seconds (so a window keeps answering), and returns False to ask for a stop (the quit key).

Modules: ``stream.py`` (the pipeline), ``slots.py`` (the hand-over slots its threads share), ``workers.py`` (the
small tools: ``SharedValue``, ``KeyedOnce``, ``LatestWorker`` over the newest item, ``SideThread`` for one call
overlapped with the caller's own work).
"""
from .stream import Pipeline, PipelineSettings, PipelineStats
from .workers import KeyedOnce, LatestWorker, SharedValue, SideCall, SideThread

__all__ = ["KeyedOnce", "LatestWorker", "Pipeline", "PipelineSettings", "PipelineStats", "SharedValue", "SideCall",
           "SideThread"]
