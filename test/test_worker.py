"""Latest frame wins: the one-frame slot and the worker thread, without ROS."""

from __future__ import annotations

import threading
import time

from ros_graph import wait_for

from sapnet_ros.worker import FrameWorker, LatestSlot


def test_slot_keeps_only_the_newest_and_hands_back_the_replaced() -> None:
    slot: LatestSlot[int] = LatestSlot()
    assert slot.put(1) is None
    assert slot.put(2) == 1
    assert slot.put(3) == 2
    assert slot.take(0) == 3
    assert slot.take(0) is None
    slot.put(4)
    assert slot.clear() == 4 and slot.clear() is None


def test_slot_take_waits_for_a_put_and_close_wakes_it() -> None:
    slot: LatestSlot[str] = LatestSlot()
    threading.Timer(0.05, slot.put, ["late"]).start()
    assert slot.take(30) == "late"
    threading.Timer(0.05, slot.close).start()
    assert slot.take(30) is None  # woken by close, not by the timeout
    assert slot.take() is None  # closed: returns at once


class Gate:
    """A handler that records items and blocks until released, like a slow network."""

    def __init__(self) -> None:
        self.handled: list[int] = []
        self.started = threading.Semaphore(0)
        self.release = threading.Event()

    def __call__(self, item: int) -> None:
        self.started.release()
        self.release.wait(30)
        self.handled.append(item)


def test_worker_processes_the_newest_item_and_counts_the_rest_as_replaced() -> None:
    gate = Gate()
    worker: FrameWorker[int] = FrameWorker(gate, on_error=lambda item, err: None)
    worker.start()
    worker.offer(0)
    assert gate.started.acquire(timeout=30) and worker.busy  # item 0 in flight
    replaced = [worker.offer(item) for item in range(1, 30)]
    assert replaced == [None, *range(1, 28 + 1)]  # each newer item replaced the waiting one
    gate.release.set()
    assert wait_for(lambda: gate.handled == [0, 29] and not worker.busy)
    assert worker.stop(30)


def test_worker_survives_a_failing_item() -> None:
    errors: list[tuple[int, str]] = []
    handled: list[int] = []

    def handle(item: int) -> None:
        if item == 1:
            raise ValueError("bad frame")
        handled.append(item)

    worker: FrameWorker[int] = FrameWorker(handle, on_error=lambda item, err: errors.append((item, str(err))))
    worker.start()
    for item in (1, 2):
        worker.offer(item)
        assert wait_for(lambda item=item: item in handled or (item, "bad frame") in errors)
    assert errors == [(1, "bad frame")] and handled == [2]
    assert worker.stop(30)


def test_worker_rate_limit_spaces_items_and_keeps_the_newest() -> None:
    starts: list[tuple[float, int]] = []
    worker: FrameWorker[int] = FrameWorker(
        lambda item: starts.append((time.monotonic(), item)), on_error=lambda item, err: None, max_rate_hz=lambda: 10.0
    )
    worker.start()
    worker.offer(0)
    assert wait_for(lambda: len(starts) == 1)
    for item in range(1, 5):  # all within the 100 ms the worker must wait
        worker.offer(item)
    assert wait_for(lambda: len(starts) == 2)
    assert starts[1][1] == 4 and starts[1][0] - starts[0][0] >= 0.099
    assert worker.stop(30)


def test_stop_returns_promptly_while_waiting_for_the_next_turn() -> None:
    worker: FrameWorker[int] = FrameWorker(lambda item: None, lambda item, err: None, max_rate_hz=lambda: 0.001)
    worker.start()
    worker.offer(0)
    time.sleep(0.05)
    worker.offer(1)  # would wait 1000 s for its turn
    assert worker.stop(5)
    assert worker.discard() == 1  # never processed
