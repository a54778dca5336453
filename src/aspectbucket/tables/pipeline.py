"""Reading, placing and writing a table at the same time, in input order, in bounded memory.

A table streams through three stages: parse a block (pyarrow), place and encode it (numpy and
pyarrow), append it to the output (pyarrow's writers). Each releases the GIL in its heavy part, so
on threads they overlap: :func:`read_ahead` parses on its own thread, :func:`in_order` places on a
pool, and the caller writes. Every stage holds at most a few batches.
"""

from __future__ import annotations

import collections
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

_DONE = object()


def worker_count() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def in_order(function: Callable, items: Iterable, workers: int | None = None) -> Iterator:
    """``function(item)`` for each item on worker threads, yielded in input order.

    At most ``2 * workers`` items are in flight, so memory stays bounded.
    """
    workers = workers or worker_count()
    pending: collections.deque = collections.deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aspectbucket-table") as pool:
        try:
            for item in items:
                pending.append(pool.submit(function, item))
                if len(pending) >= 2 * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


def read_ahead(items: Iterable, depth: int = 2) -> Iterator:
    """The items of ``items``, produced on a thread of their own up to ``depth`` ahead of the consumer.

    An exception raised while producing is raised here, at the item where it happened; a consumer
    that stops early stops the producer at its next item.
    """
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stopped = threading.Event()

    def put(item) -> bool:
        while not stopped.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as error:  # handed to the consumer, raised there
            put(_Failure(error))

    producer = threading.Thread(target=produce, name="aspectbucket-read", daemon=True)
    producer.start()
    try:
        while (item := handoff.get()) is not _DONE:
            if isinstance(item, _Failure):
                raise item.error
            yield item
        producer.join()
    finally:
        # A consumer that stops early does not wait: the producer may be blocked reading a pipe; it
        # stops at its next item (a daemon thread, it never holds the process open).
        stopped.set()
