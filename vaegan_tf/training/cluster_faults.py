"""Faults of a multi-worker run: a preemption notice to one worker, and a worker that is lost.

A preemption notice (SIGTERM, or Ctrl-C) to any one worker stops them all at one agreed step, with
a checkpoint there. TensorFlow's PreemptionCheckpointHandler does the agreeing: the worker that got
the signal writes a step into the coordination service, every worker's watcher thread reads it, and
each worker saves when it has trained that many steps, then stops. Stopping one worker alone, as
a single-host run does, leaves the others in the next step's all-reduce with no partner.

A worker that dies without notice stops sending heartbeats to the coordination service; after
--lost_worker_timeout seconds the service marks it unhealthy and aborts every survivor's pending
collective op, which `lost_worker` recognises so that train_mode can end with one line. TensorFlow
has no public setting for that timeout (MultiWorkerMirroredStrategy leaves it at 10 s), so
`configure_coordination` sets up the service as the strategy would, with the timeout, before the
strategy is made.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from unittest import mock

import tensorflow as tf
from absl import logging
from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
from tensorflow.python.distribute import multi_worker_util
from tensorflow.python.distribute.failure_handling import failure_handling_util
from tensorflow.python.eager import context
from tensorflow.python.util import deprecation

from vaegan_tf.training.step_clock import StepCallback

# Error types a survivor's collective op ends with when a peer went away. Checked with the text
# below: the same types also mean other things.
_ABORTED = (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.CancelledError,
            tf.errors.InternalError, tf.errors.DeadlineExceededError, tf.errors.UnknownError)
# Not "Collective ops is aborted" alone: workers whose collective ops do not match (a bug) are
# aborted with those words too.
_PEER_GONE = ("unhealthy", "heartbeat", "socket closed", "connection reset", "failed to connect",
              "connection refused", "coordination service")


def configure_coordination(cluster: dict[str, list[str]], timeout_s: int) -> None:
    """Sets up TensorFlow's coordination service for a MultiWorkerMirroredStrategy over `cluster`,
    with a worker counted as lost after `timeout_s` seconds without a heartbeat. Call it before
    the strategy is made (the strategy then keeps this configuration)."""
    spec = tf.train.ClusterSpec(cluster)
    ms = timeout_s * 1000
    context.context().configure_coordination_service(
        service_type="standalone",
        service_leader=multi_worker_util.coordination_leader(spec),
        coordinated_jobs=[coordination_config_pb2.CoordinatedJob(name=job,
                                                                 num_tasks=len(cluster[job]))
                          for job in ("chief", "worker") if job in cluster],
        heartbeat_timeout_in_ms=ms,
        # At exit a worker waits for the others at a barrier; a lost one never comes.
        shutdown_barrier_timeout_in_ms=ms,
    )


def lost_worker(error: BaseException) -> str | None:
    """What `error` says went away, if it is how a survivor learns that a peer did, else None:
    "worker 1 stopped sending heartbeats", "worker 0: Socket closed"."""
    if not isinstance(error, _ABORTED):
        return None
    text = str(getattr(error, "message", error))
    # The first line that says so, without TensorFlow's op and node names and its advice to
    # "restart your program".
    line = next((l for l in text.splitlines() if any(n in l.lower() for n in _PEER_GONE)), None)
    if line is None:
        return None
    line = re.sub(r"^(Collective ops is aborted by: )+", "", line.split("}}")[-1].strip())
    task = re.search(r"(?:unhealthy[^\n]*\n|remote target )/job:(\w+)/replica:\d+/task:(\d+)",
                     text)
    if not task:
        return line.rstrip(".:")[:200]
    if "stopped sending heartbeats" in text:
        return f"{task[1]} {task[2]} stopped sending heartbeats"
    return f"{task[1]} {task[2]}: {line.rstrip('.:')[:200]}"


def _quiet_watchers(hook):
    """A threading.excepthook that ends the handler's watcher threads quietly when they fail
    because a peer went away (train_mode reports that once) and passes on anything else."""
    def excepthook(args):
        if args.thread is not None and args.thread.name.startswith(
                ("PeerTerminationWatcher", "WorkerTerminationSignalWatcher")) \
                and lost_worker(args.exc_value):
            logging.info("%s ended: %s", args.thread.name, lost_worker(args.exc_value))
            return
        hook(args)
    return excepthook


class ClusterStop(StepCallback):
    """Stops every worker at one step, with a checkpoint, when any one is told to stop.

    `notified()` says whether this process received a stop signal (faults.SignalStop records it
    without stopping fit). `save()` writes the checkpoint of the current step. After it, fit()
    stops on every worker and `stopped` is True.

    PreemptionCheckpointHandler counts its calls from 0 here on every worker (it is given an empty
    checkpoint of its own, and save_fn saves training's), so the counts agree wherever the
    workers resumed; every worker calls it once per step.
    """

    def __init__(self, resolver, notified, save):
        super().__init__()
        if not getattr(threading.excepthook, "quiet_watchers", False):
            threading.excepthook = _quiet_watchers(threading.excepthook)
            threading.excepthook.quiet_watchers = True
        self.stopped = False
        self._save = save
        self._folder = tempfile.mkdtemp(prefix="vaegan_preemption_")
        # The handler asks Google Cloud's metadata server whether it runs there (up to 5 s) and,
        # on a CPU VM there, disables itself. Here every platform gets the same behaviour: the
        # watcher, save and exit functions below are all it needs of the platform.
        with mock.patch.object(failure_handling_util, "on_gcp", lambda: False):
            self.handler = tf.distribute.experimental.PreemptionCheckpointHandler(
                resolver, tf.train.Checkpoint(), checkpoint_dir=os.path.join(self._folder, "ckpt"),
                termination_config=tf.distribute.experimental.TerminationConfig(
                    termination_watcher_fn=notified, exit_fn=self._stop, save_fn=self._save_now,
                    grace_period=0))

    def _save_now(self):
        logging.info("A worker was told to stop: every worker saves step %d and stops", self.step)
        self._save()

    def _stop(self):
        self.stopped = True
        self.model.stop_training = True

    def on_train_batch_end(self, batch, logs=None):
        if not self.stopped:
            with deprecation.silence():  # the handler reads its own deprecated counter
                self.handler.save_checkpoint_if_preempted()

    def close(self) -> None:
        """Ends the handler's watcher threads (they block on the coordination service)."""
        self.handler._stop_poll_termination_signal_thread()  # pylint: disable=protected-access
        self.handler._stop_cluster_wise_termination_watcher_thread()  # pylint: disable=protected-access
        shutil.rmtree(self._folder, ignore_errors=True)
