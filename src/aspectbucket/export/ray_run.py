"""``export --engine ray``: each image decoded, resized, cropped, encoded and written by a Ray worker.

The driver (this process) does what :func:`~aspectbucket.export.run.run_export` always does: it
plans, holds the output folder's lock, skips what the journal says is finished, journals each image
as its task returns and writes the summary. Each task is :func:`~aspectbucket.export.run.export_one`,
the local engine's own function, run on a worker that opens the output folder with the same guards
(no symlink followed, never under an input, atomic files) but without a lock of its own: the
driver's covers the run. So the bytes written are the local engine's, and a stopped Ray export
resumes under either engine. The workers write into the output folder by its path: on a cluster of
several machines that folder (and the dataset) must be on a file system they all share.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path

from aspectbucket.export.plan import ExportItem, ExportSettings
from aspectbucket.export.run import ItemFailure, Submit, export_one
from aspectbucket.outputs import OutputTree
from aspectbucket.tables.ray_engine import RayCluster

#: How a task's outcome travels back: written (byte count), failed (the image's reason), stopped (an OSError).
WRITTEN, FAILED, STOPPED = "written", "failed", "stopped"


class RayRunner:
    """Exports on the workers of ``cluster`` (see :class:`~aspectbucket.tables.ray_engine.RayCluster`)."""

    def __init__(self, cluster: RayCluster):
        self.cluster = cluster

    @contextmanager
    def pool(self, settings: ExportSettings, tree: OutputTree) -> Iterator[tuple[Submit, int]]:
        """``(submit, workers)`` as :meth:`aspectbucket.export.run.ThreadRunner.pool` gives them, each
        image a Ray task of one CPU; leaving waits for the tasks still running (before the driver
        removes temporary files after a stop)."""
        with self.cluster.session() as ray:
            task = ray.remote(export_on_worker)
            workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
            # Absolute paths: a worker's working folder is not this process's (nor on its machine).
            root, inputs = str(tree.root.absolute()), [str(Path(path).absolute()) for path in tree.inputs]
            running: dict[Future, object] = {}  # only unfinished tasks keep their reference here

            def submit(item: ExportItem) -> Future:
                reference = task.remote(item, settings, root, inputs)
                returned = reference.future()
                running[returned] = reference
                returned.add_done_callback(lambda done: running.pop(done, None))
                return _outcome(returned)

            try:
                yield submit, workers
            finally:
                if left := list(running.copy().values()):  # copied at once: tasks finish meanwhile
                    ray.wait(left, num_returns=len(left), fetch_local=False)


def export_on_worker(item: ExportItem, settings: ExportSettings, root: str, inputs: Iterable[str]) -> tuple:
    """On a worker: one image exported into ``root`` as the local engine does; ``(kind, value)`` of
    :data:`WRITTEN`, :data:`FAILED` or :data:`STOPPED`."""
    try:
        with OutputTree(root, inputs, locked=False) as tree:
            return WRITTEN, export_one(item, settings, tree)
    except ItemFailure as failure:
        return FAILED, failure.reason
    except OSError as error:
        return STOPPED, (error.errno, error.strerror or str(error), error.filename)


def _outcome(returned: Future) -> Future:
    """The future a :class:`~aspectbucket.export.run.ThreadRunner` would give: the byte count, or the
    image's :class:`ItemFailure`, or the ``OSError`` that stops the run (a lost worker is one too)."""
    outcome: Future = Future()
    outcome.set_running_or_notify_cancel()  # like a started thread's: cancel() leaves it be

    def settle(done: Future) -> None:
        try:
            kind, value = done.result()
        except Exception as error:  # the task itself failed: a worker died, the cluster went away
            reason = " ".join(str(error).split())[:300]
            outcome.set_exception(OSError(errno.EIO, f"a Ray task failed: {reason}"))
            return
        if kind == WRITTEN:
            outcome.set_result(value)
        elif kind == FAILED:
            outcome.set_exception(ItemFailure(value))
        else:
            outcome.set_exception(OSError(*value))

    returned.add_done_callback(settle)
    return outcome
