"""The threaded pipeline: back-pressure, newest-wins for live sources, errors from every thread."""
from __future__ import annotations

import threading
import time

import pytest

from vidbokeh.pipeline import KeyedOnce, Pipeline, PipelineSettings, SideThread


class Boom(RuntimeError):
    pass


def _pipeline_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("vidbokeh-")]


def test_file_mode_keeps_every_item_in_order_with_a_slow_consumer():
    written: list[int] = []
    gate = threading.Event()

    def process(batch):
        gate.wait(0.001)  # slower consumer than producer: back-pressure must hold the source
        return [x * 10 for x in batch]

    p = Pipeline(range(500), process, written.append, PipelineSettings(queue_size=2))
    stats = p.run()
    assert written == [x * 10 for x in range(500)]
    assert stats.frames_in == stats.frames_processed == stats.frames_out == 500
    assert stats.dropped == 0
    assert not _pipeline_threads()


def test_batches_never_exceed_batch_size_and_cover_everything():
    sizes: list[int] = []

    def process(batch):
        sizes.append(len(batch))
        return batch

    out: list[int] = []
    Pipeline(range(100), process, out.append, PipelineSettings(batch_size=4, queue_size=16)).run()
    assert out == list(range(100))
    assert max(sizes) <= 4 and sum(sizes) == 100


def test_live_source_drops_oldest_and_counts_drops():
    release = threading.Event()
    seen: list[int] = []

    def source():
        for i in range(200):
            yield i
        release.set()  # the slow stage is released only once the producer has finished

    def process(batch):
        if not release.is_set():
            release.wait(5)
        return batch

    stats = Pipeline(source(), process, seen.append, PipelineSettings(live=True, queue_size=3)).run()
    assert stats.dropped > 0
    assert stats.frames_in == 200
    assert len(seen) + stats.dropped == 200
    assert seen == sorted(seen)  # newest-wins never reorders
    assert seen[-1] == 199  # the newest frame always survives


def _failing_source():
    yield 1
    yield 2
    raise Boom("source failed")


@pytest.mark.parametrize("where", ["source", "process", "sink"])
def test_first_error_of_any_thread_stops_all_within_a_second(where):
    def endless():
        i = 0
        while True:
            i += 1
            yield i

    def process(batch):
        if where == "process" and batch[0] >= 5:
            raise Boom("process failed")
        return batch

    def sink(item):
        if where == "sink" and item >= 5:
            raise Boom("sink failed")

    source = _failing_source() if where == "source" else endless()
    p = Pipeline(source, process, sink, PipelineSettings(queue_size=4))
    t0 = time.monotonic()
    with pytest.raises(Boom, match=f"{where} failed"):
        p.run()
    assert time.monotonic() - t0 < 1.0
    assert not _pipeline_threads()


def test_sink_on_caller_thread_and_stop_request():
    calls: list[str] = []

    def sink(item):
        calls.append(threading.current_thread().name)
        return item < 9  # ask to stop after the tenth item (a preview's quit key)

    def endless():
        i = 0
        while True:
            yield i
            i += 1

    stats = Pipeline(endless(), lambda b: b, sink, PipelineSettings(sink_on_caller_thread=True)).run()
    assert stats.stopped_early
    assert stats.frames_out == 10
    assert set(calls) == {threading.current_thread().name}
    assert not _pipeline_threads()


def test_external_stop_ends_an_endless_source():
    p: Pipeline

    def sink(item):
        if item == 20:
            p.stop()

    def endless():
        i = 0
        while True:
            yield i
            i += 1

    p = Pipeline(endless(), lambda b: b, sink)
    stats = p.run()
    assert stats.stopped_early and stats.frames_out >= 21
    assert not _pipeline_threads()


def test_a_held_display_never_holds_up_processing_or_writing():
    """The display gets the newest result: while it is stuck on its first frame, everything else is written."""
    written: list[int] = []
    all_written = threading.Event()
    shown: list[int | None] = []
    caller = threading.current_thread()

    def sink(item):
        written.append(item)
        if len(written) == 200:
            all_written.set()

    def display(item):
        assert threading.current_thread() is caller  # a window lives in the caller's thread
        shown.append(item)
        if len(shown) == 1:
            assert all_written.wait(30), "processing waited for the display"
        return True

    p = Pipeline(range(200), lambda batch: batch, sink, PipelineSettings(queue_size=2), display=display)
    stats = p.run()
    assert written == list(range(200))  # a file-like source: back-pressure, nothing lost
    frames = [x for x in shown if x is not None]
    assert frames[0] is not None and frames == sorted(frames)
    assert frames[-1] == 199  # the display catches up with the newest
    assert stats.not_shown == 200 - len(frames) > 0
    assert not _pipeline_threads()


def test_display_quit_stops_the_pipeline_and_idle_calls_keep_a_window_alive():
    shown: list[int | None] = []
    release = threading.Event()

    def endless():
        i = 0
        while True:
            if i == 3:
                release.wait(30)  # the source goes quiet: the display is called with None meanwhile
            yield i
            i += 1

    def display(item):
        shown.append(item)
        if item is None:
            release.set()
        return item is None or item < 10

    p = Pipeline(endless(), lambda batch: batch, lambda item: None, PipelineSettings(live=True, poll=0.01),
                 display=display)
    stats = p.run()
    assert None in shown and stats.stopped_early
    assert not _pipeline_threads()


def test_keyed_once_makes_each_value_once_and_holds_only_its_own_key():
    table: KeyedOnce[list] = KeyedOnce()
    made: list[str] = []

    def make(key: str):
        return lambda: made.append(key) or [key]

    outcome: dict = {}

    def nested_uses() -> None:  # a lock shared by every key would deadlock here
        with table.use("a", make("a")) as a:
            with table.use("b", make("b")) as b:
                outcome["values"] = (a, b)

    worker = threading.Thread(target=nested_uses)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "using key b while key a is held waited for key a"
    assert outcome["values"] == (["a"], ["b"])
    with table.use("a", make("a")) as again:
        assert again is outcome["values"][0]
    assert made == ["a", "b"]

    start = threading.Barrier(4)

    def contend() -> None:
        start.wait(timeout=30)
        with table.use("c", make("c")):
            pass

    contenders = [threading.Thread(target=contend) for _ in range(4)]
    for thread in contenders:
        thread.start()
    for thread in contenders:
        thread.join(timeout=30)
    assert made.count("c") == 1
    assert sorted(v[0] for v in table.drain()) == ["a", "b", "c"]
    assert table.drain() == []


def test_a_side_call_runs_beside_the_caller_and_hands_back_its_value_or_error():
    side = SideThread()
    try:
        entered, gate = threading.Event(), threading.Event()
        threads = []

        def work(x):
            threads.append(threading.current_thread())
            entered.set()
            assert gate.wait(30)  # held until the caller, still running, lets it go
            return 2 * x

        with side.start(work, 21) as call:
            assert entered.wait(30)
            gate.set()
            assert call.result() == 42
        assert threads[0] is not threading.current_thread()

        def fail():
            raise ValueError("side failure")

        with pytest.raises(ValueError, match="side failure"), side.start(fail) as failing:
            failing.result()  # re-raised in the caller's thread

        # leaving the block waits for the call, even when the block fails: nothing it uses is still in use after
        entered.clear()
        gate.clear()
        done = []

        def slow():
            entered.set()
            assert gate.wait(30)
            done.append(True)

        with pytest.raises(RuntimeError, match="caller failed"), side.start(slow):
            assert entered.wait(30)
            gate.set()
            raise RuntimeError("caller failed")
        assert done == [True]
    finally:
        side.close()
        side.close()  # idempotent


def test_a_side_thread_shares_items_with_the_caller_in_order_and_raises_the_first_error():
    side = SideThread()
    try:
        me = threading.current_thread()
        where = {}

        def here(x):
            where[x] = threading.current_thread() is me
            return x * 10

        def there(x):
            where[x] = threading.current_thread() is me
            if x == 99:
                raise ValueError("item 99")
            return x * 10

        assert side.share(list(range(7)), here, there) == [x * 10 for x in range(7)]
        assert [where[x] for x in range(7)] == [True, False] * 3 + [True]  # every second item on the side thread
        assert side.share([5], here, there) == [50] and side.share([], here, there) == []
        with pytest.raises(ValueError, match="item 99"):
            side.share([1, 99, 3], here, there)
    finally:
        side.close()


# Modules that touch threading without starting threads or sharing state between them, and why.
_THREAD_AWARE = {
    "pipeline/": "the pipeline and its thread tools (the package)",
    "video_finish.py": "signals can only be held on the main thread: it asks which thread it is on",
    "render/ops_torch.py": "the torch backend's kernel cache lock (tensors built once per kernel and device)",
}


def test_only_the_pipeline_knows_about_threads():
    import ast
    from pathlib import Path

    import vidbokeh

    root = Path(vidbokeh.__file__).parent
    found = {}
    for path in sorted(root.rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        touched = names & {"threading", "queue", "concurrent", "_thread", "multiprocessing"}
        if touched:
            found[path.relative_to(root).as_posix()] = sorted(touched)

    def allowed(path: str) -> bool:
        return path in _THREAD_AWARE or any(k.endswith("/") and path.startswith(k) for k in _THREAD_AWARE)

    assert found and all(allowed(k) for k in found), {k: v for k, v in found.items() if not allowed(k)}
