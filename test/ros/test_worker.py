"""Latest frame wins: the one-frame slots per source and the worker thread, without ROS."""

from __future__ import annotations

import threading
import time

from ros_graph import wait_for

from sapnet_ros.ros.worker import FrameWorker, LatestSlots


def test_slot_keeps_only_the_newest_and_hands_back_the_replaced() -> None:
    slot: LatestSlots[int] = LatestSlots()
    assert slot.put(1) is None
    assert slot.put(2) == 1
    assert slot.put(3) == 2
    assert slot.take(timeout=0) == [3]
    assert slot.take(timeout=0) == []
    slot.put(4)
    assert slot.clear() == [4] and slot.clear() == []


def test_slot_take_waits_for_a_put_and_close_wakes_it() -> None:
    slot: LatestSlots[str] = LatestSlots()
    threading.Timer(0.05, slot.put, ["late"]).start()
    assert slot.take(timeout=30) == ["late"]
    threading.Timer(0.05, slot.close).start()
    assert slot.take(timeout=30) == []  # woken by close, not by the timeout
    assert slot.take() == []  # closed: returns at once


class Gate:
    """A handler that records items and blocks until released, like a slow network."""

    def __init__(self) -> None:
        self.handled: list[int] = []
        self.started = threading.Semaphore(0)
        self.release = threading.Event()

    def __call__(self, items: list[int]) -> None:
        self.started.release()
        self.release.wait(30)
        self.handled.extend(items)


def test_worker_processes_the_newest_item_and_counts_the_rest_as_replaced() -> None:
    gate = Gate()
    worker: FrameWorker[int] = FrameWorker(gate, on_error=lambda items, err: None)
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

    def handle(items: list[int]) -> None:
        if items == [1]:
            raise ValueError("bad frame")
        handled.extend(items)

    worker: FrameWorker[int] = FrameWorker(handle, on_error=lambda items, err: errors.append((*items, str(err))))
    worker.start()
    for item in (1, 2):
        worker.offer(item)
        assert wait_for(lambda item=item: item in handled or (item, "bad frame") in errors)
    assert errors == [(1, "bad frame")] and handled == [2]
    assert worker.stop(30)


def test_worker_rate_limit_spaces_items_and_keeps_the_newest() -> None:
    starts: list[tuple[float, int]] = []
    worker: FrameWorker[int] = FrameWorker(
        lambda items: starts.append((time.monotonic(), *items)), lambda items, err: None, max_rate_hz=lambda: 10.0
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
    worker: FrameWorker[int] = FrameWorker(lambda items: None, lambda items, err: None, max_rate_hz=lambda: 0.001)
    worker.start()
    worker.offer(0)
    time.sleep(0.05)
    worker.offer(1)  # would wait 1000 s for its turn
    assert worker.stop(5)
    assert worker.discard() == [1]  # never processed


def test_slots_keep_the_newest_of_each_source_and_serve_the_least_recently_served_first() -> None:
    slots: LatestSlots[str] = LatestSlots()
    for source in "abcd":
        assert slots.put(f"{source}0", source) is None
    assert slots.put("b1", "b") == "b0"  # replaced within its own source only
    assert slots.take(limit=2, timeout=0) == ["a0", "b1"]
    for source in "abcd":
        slots.put(f"{source}2", source)
    assert slots.take(limit=2, timeout=0) == ["c2", "d2"]  # c and d waited longest
    assert slots.take(limit=8, timeout=0) == ["a2", "b2"]


def test_no_source_starves_when_the_worker_is_overloaded() -> None:
    """Four cameras offer frames far faster than a batch of two is handled: each gets its turn."""
    handled: list[list[tuple[str, int]]] = []
    worker: FrameWorker[tuple[str, int]] = FrameWorker(
        lambda items: (handled.append(items), time.sleep(0.02)), lambda items, err: None, max_batch=2
    )
    worker.start()
    dropped = dict.fromkeys("abcd", 0)
    for frame in range(200):
        for source in "abcd":  # camera a always offers first: a FIFO or fixed order would favour it
            dropped[source] += worker.offer((source, frame), source) is not None
        time.sleep(0.002)
    assert worker.stop(30)
    served = {source: sum(s == source for batch in handled for s, _ in batch) for source in "abcd"}
    assert all(len(batch) <= 2 and len({s for s, _ in batch}) == len(batch) for batch in handled)
    assert min(served.values()) >= 5 and max(served.values()) - min(served.values()) <= 1, served
    waiting = [source for source, _ in worker.discard()]
    assert all(dropped[s] + served[s] + waiting.count(s) == 200 for s in "abcd")  # every frame accounted for
