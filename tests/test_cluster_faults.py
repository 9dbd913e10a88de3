"""Multi-worker faults on two local `run.py --strategy=multi_worker` workers sharing one workdir:
a stop signal to either worker, a killed worker, and exact resumption after each.

The slow test is a chain of runs of the same commands, as a user on a preemptible cluster would
see them: each run resumes from the one before and is stopped another way, and the last
finishes. Its final weights must equal, bit for bit, those of an uninterrupted two-worker run
(--deterministic), so every resumption in the chain was exact. The uninterrupted run is made once
per session, under a file lock, whichever pytest-xdist worker needs it first.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_config
from filelock import FileLock
from workers import Cluster, run_flags, tail

from vaegan_tf import files
from vaegan_tf.errors import RESUME_EXIT, Interrupted, WorkerLost
from vaegan_tf.training import checkpointing, cluster_faults

STEPS = 60  # room for four stops after checkpoints 10, 20, 30 and 40
EVERY = 10  # --checkpoint_every
LOST_AFTER = 10  # --lost_worker_timeout (s)
# Every process ends within these, counted from the signal. Measured on 2 loaded cores: 6-7 s
# after a SIGTERM (the save, the grids and an export on the chief); after a SIGKILL 2-3 s when the
# dead process's sockets close first, 11 s when the heartbeat timeout comes first.
SIGTERM_BOUND = 30
SIGKILL_BOUND = LOST_AFTER + 30


def _flags(workdir: str, data_dir: str) -> list[str]:
    # Validation and grids only at the end: each run then costs little more than its start.
    config = tiny_config(data_dir=data_dir, train_steps=STEPS, log_every=EVERY, eval_every=STEPS,
                         image_every=STEPS, checkpoint_every=EVERY, strategy="multi_worker",
                         deterministic=True, lost_worker_timeout=LOST_AFTER)
    return [f"--workdir={workdir}", "--verbose=0", *run_flags(config)]


def _weights(prefix: str) -> dict[str, np.ndarray]:
    """Every tensor of a checkpoint but two that differ by design: the save counter (how many
    saves) and the validation noise's generator, which every validation pass resets to its start
    (so it holds whatever the last pass of that process left, or the start if none ran)."""
    reader = tf.train.load_checkpoint(prefix)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if not name.startswith(("save_counter", "eval_noise"))}


def _step(workdir: str) -> int:
    newest = tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
    return int(re.search(r"ckpt-(\d+)$", newest)[1]) if newest else 0


def _finish(cluster: Cluster, flags: list[str]) -> None:
    cluster.start(flags)
    codes = cluster.wait(timeout=300)
    assert codes == [0, 0], "\n".join(tail(cluster.log(i)) for i in range(2))


def _last_line(cluster: Cluster, index: int) -> str:
    return cluster.log(index).rstrip().splitlines()[-1]


@pytest.fixture(scope="session")
def two_workers(tmp_path_factory, synthetic_root):
    """An uninterrupted two-worker run, made once per session whichever pytest-xdist worker needs
    it first: (its base folder, its Cluster). Each worker runs in a folder of its own with the
    same relative --workdir, so what each one writes can be told apart."""
    base = tmp_path_factory.getbasetemp().parent / "uninterrupted_two_workers"
    cluster = Cluster(base)
    with FileLock(str(base) + ".lock"):
        if not (base / "done").exists():
            shutil.rmtree(base, ignore_errors=True)
            homes = [base / f"worker{i}" for i in range(2)]
            for home in homes:
                home.mkdir(parents=True)
            cluster.start(_flags("run", synthetic_root), cwds=[str(h) for h in homes])
            assert cluster.wait(timeout=300) == [0, 0], \
                "\n".join(tail(cluster.log(i)) for i in range(2))
            (base / "done").write_text("")
    # Its logs, also where another pytest-xdist worker made the run.
    cluster.logs = [str(base / f"worker{i}.run1.log") for i in range(2)]
    return base, cluster


@pytest.fixture(scope="session")
def uninterrupted(two_workers) -> dict[str, np.ndarray]:
    """The final checkpoint's tensors of the uninterrupted two-worker run."""
    base, _ = two_workers
    return _weights(str(base / "worker0" / "run" / "checkpoints" / f"ckpt-{STEPS}"))


@pytest.mark.slow  # two run.py workers (shared with the tests below)
def test_two_workers_train_and_only_the_chief_writes(two_workers, synthetic_root):
    base, cluster = two_workers
    chief = base / "worker0" / "run"
    assert sorted(os.listdir(chief / "checkpoints")) == ["checkpoint"] + [
        f"ckpt-{s}.{part}" for s in (40, 50, 60) for part in ("data-00000-of-00001", "index")]
    assert {"config.json", "tensorboard", "samples", "export"} <= set(os.listdir(chief))
    assert os.path.isdir(chief / "export" / "decoder" / str(STEPS))
    assert _check_newest_is_complete(str(chief), tiny_config(data_dir=synthetic_root)) == STEPS

    assert not os.path.exists(base / "worker1" / "run")  # the other worker wrote nothing there
    logs = [cluster.log(i) for i in range(2)]
    temp = re.search(r"Not the chief \(worker 1 of 2 workers\): writing into (\S+), deleted",
                     logs[1])
    assert temp, tail(logs[1])
    assert temp.group(1).startswith(str(base / "tmp1"))
    assert not os.listdir(base / "tmp1")  # its temporary folders went with it
    # Both took part in every step: they end on the same all-reduced validation losses.
    finals = [re.search(rf"Final validation at step {STEPS}: (.*)", log) for log in logs]
    assert all(finals) and finals[0].group(1) == finals[1].group(1)


def _check_resumed_exactly(workdir: str, uninterrupted: dict) -> None:
    assert _step(workdir) == STEPS
    final = _weights(os.path.join(workdir, "checkpoints", f"ckpt-{STEPS}"))
    assert final.keys() == uninterrupted.keys()
    differ = [k for k in final if not np.array_equal(final[k], uninterrupted[k])]
    assert not differ, f"{len(differ)} of {len(final)} tensors differ, e.g. {differ[:3]}"


def _check_newest_is_complete(workdir: str, config) -> int:
    """The newest checkpoint restores into a model (every variable found); returns its step."""
    from vaegan_tf.model.vaegan import VAEGAN
    model = VAEGAN(config)
    model.compile()
    return checkpointing.restore_latest(checkpointing.make_manager(model, workdir, config))


def _stop_one(cluster: Cluster, workdir: str, how: int, who: int, config) -> None:
    """Sends `how` to worker `who` once the next periodic checkpoint is written, and checks how
    every worker ended: in time, with its exit status and its one line, at a complete checkpoint."""
    before = _step(workdir)
    periodic = (before // EVERY + 1) * EVERY
    cluster.wait_for(os.path.join(workdir, "checkpoints", f"ckpt-{periodic}.index"))
    bound = SIGTERM_BOUND if how == signal.SIGTERM else SIGKILL_BOUND
    sent = cluster.signal(who, how)
    codes = cluster.wait(timeout=bound)
    assert time.monotonic() - sent < bound
    other = 1 - who
    assert codes[other] == RESUME_EXIT, tail(cluster.log(other))
    step = _step(workdir)
    newest = os.path.join(workdir, "checkpoints", f"ckpt-{step}")
    if how == signal.SIGTERM:
        assert codes[who] == 128 + signal.SIGTERM, tail(cluster.log(who))
        # Both saved one step, later than the periodic checkpoint the signal came after, and
        # each says so in its last line.
        assert periodic < step < STEPS
        assert _last_line(cluster, who) == str(Interrupted(signal.SIGTERM, step, cluster=True))
        assert _last_line(cluster, other) == str(Interrupted(None, step))
    else:
        assert codes[who] == -signal.SIGKILL
        assert step >= periodic
        assert re.fullmatch(re.escape(str(WorkerLost("@", newest))).replace(
            "@", rf"worker {who}[^)]*"), _last_line(cluster, other)), tail(cluster.log(other))
    assert _check_newest_is_complete(workdir, config) == step


@pytest.mark.slow  # five two-worker runs
def test_stop_signals_and_kills_of_either_worker_stop_both_and_every_rerun_resumes_exactly(
        tmp_path, synthetic_root, uninterrupted):
    """SIGTERM to the chief, SIGKILL of the other worker, SIGTERM to the other worker, SIGKILL of
    the chief: each in a run that resumed from the one before, and a last run that finishes.

    Without the fix of the collective-order bug (a non-chief saving at resume while the chief
    does not), the first rerun fails at once."""
    workdir = str(tmp_path / "run")
    flags, cluster = _flags(workdir, synthetic_root), Cluster(tmp_path)
    config = tiny_config(data_dir=synthetic_root)
    for how, who in ((signal.SIGTERM, 0), (signal.SIGKILL, 1), (signal.SIGTERM, 1),
                     (signal.SIGKILL, 0)):
        cluster.start(flags)
        _stop_one(cluster, workdir, how, who, config)
        assert not os.path.exists(os.path.join(workdir, "export", ".tmp"))
    # What a run killed mid-write leaves (TensorFlow's shards of an unfinished checkpoint, a
    # SavedModel being staged, a grid being written) is removed when the next run starts.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    left = [os.path.join(workdir, "checkpoints", f"ckpt-{STEPS}_temp"),
            os.path.join(workdir, "export", ".tmp", f".{STEPS}.tmp-{dead}"),
            os.path.join(workdir, "samples", f".samples_{STEPS:07d}.png.tmp-{dead}.png")]
    for path in left:
        os.makedirs(path)
    _finish(cluster, flags)
    assert not [p for p in left if os.path.exists(p)]
    assert not os.path.exists(os.path.join(workdir, "export", ".tmp"))
    _check_resumed_exactly(workdir, uninterrupted)


# --- fast: recognising a lost worker, and the cleaning at start ---

HEARTBEATS = """Graph execution error:

Detected at node cross_replica/CollectiveReduceV2 defined at (most recent call last):
{{function_node __wrapped__CollectiveReduceV2}} Collective ops is aborted by: Error reported from \
/job:worker/task:1: The following tasks are unhealthy (stopped sending heartbeats):
/job:worker/replica:0/task:1
The tasks have crashed. Check the task logs for an earlier error."""
SOCKET = """Graph execution error:
{{function_node __wrapped__CollectiveBcastRecv}} Collective ops is aborted by: Socket closed
Additional GRPC error information from remote target /job:worker/replica:0/task:0 while calling \
/tensorflow.WorkerService/CompleteInstance:
:UNKNOWN:Error received from peer  {grpc_message:"Socket closed", grpc_status:14}"""


@pytest.mark.parametrize("error,reason", [
    (tf.errors.UnavailableError(None, None, HEARTBEATS), "worker 1 stopped sending heartbeats"),
    (tf.errors.InternalError(None, None, SOCKET), "worker 0: Socket closed"),
    (tf.errors.InternalError(None, None, "Collective ops is aborted by: Socket closed"),
     "Socket closed"),
])
def test_a_lost_peer_is_recognised_and_named(error, reason):
    assert cluster_faults.lost_worker(error) == reason


@pytest.mark.parametrize("error", [
    tf.errors.InternalError(None, None, "Failed to allocate 3 GiB"),
    tf.errors.InvalidArgumentError(None, None, "Collective ops is aborted by: Socket closed"),
    RuntimeError("Socket closed"),
    # Workers whose collective ops do not match: a bug, not a lost worker.
    tf.errors.InternalError(None, None, "Collective ops is aborted by: Collective instance 254 "
                            "expected type 1 and data_type 9 but got type 2 and data_type 3"),
    tf.errors.InternalError(None, None, "Collective ops is aborted by: Shape mismatch in the "
                            "collective instance 1091. Op at device /job:worker/task:1"),
])
def test_other_errors_are_not_a_lost_worker(error):
    assert cluster_faults.lost_worker(error) is None


def test_stale_temporaries_of_dead_processes_are_removed_and_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    live = os.getpid()
    (tmp_path / ".tmp").mkdir()
    stale = [tmp_path / f".config.json.tmp-{dead}", tmp_path / ".tmp" / f".40.tmp-{dead}",
             tmp_path / f".40.tmp-{dead}.old"]
    kept = [tmp_path / f".config.json.tmp-{live}", tmp_path / "config.json",
            tmp_path / ".hidden", tmp_path / "40.tmp-1"]
    for path in stale[:1] + kept:
        path.write_text("x")
    stale[1].mkdir()
    (stale[1] / "saved_model.pb").write_text("x")
    stale[2].mkdir()
    removed = files.remove_stale_temporaries(str(tmp_path))
    assert sorted(removed) == sorted(map(str, stale))
    assert not any(p.exists() for p in stale) and all(p.exists() for p in kept)
    assert not (tmp_path / ".tmp").exists()  # the emptied staging folder goes too
    assert files.remove_stale_temporaries(str(tmp_path / "absent")) == []


def test_partial_checkpoints_are_removed_and_complete_ones_kept(tmp_path):
    (tmp_path / "ckpt-30_temp").mkdir()
    (tmp_path / "ckpt-30_temp" / "part-00000-of-00001.index").write_text("x")
    kept = [tmp_path / "ckpt-20.index", tmp_path / "ckpt-20.data-00000-of-00001",
            tmp_path / "checkpoint"]
    for path in kept:
        path.write_text("x")
    assert checkpointing.remove_partial(str(tmp_path)) == [str(tmp_path / "ckpt-30_temp")]
    assert sorted(os.listdir(tmp_path)) == sorted(p.name for p in kept)
