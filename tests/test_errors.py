"""errors.py: which exceptions mean "the user's input is wrong", the words for a failed write, and
the clean stop on a signal."""

import errno
import os
import signal

import pytest
import tensorflow as tf

from vaegan_tf import errors
from vaegan_tf.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    RESUME_EXIT,
    DivergenceError,
    Interrupted,
    UserError,
    WorkerLost,
    WriteError,
    os_reason,
)
from vaegan_tf.training import faults

USER_ERRORS = [ConfigError, WriteError, DataError, CheckpointError, DivergenceError]


@pytest.mark.parametrize("cls", USER_ERRORS)
def test_each_cause_is_a_user_error_and_told_apart_from_the_others(cls):
    # run.py prints a UserError as one line and exits 2; anything else keeps its traceback.
    assert issubclass(cls, UserError) and issubclass(cls, Exception)
    with pytest.raises(UserError, match="^bad value$"):
        raise cls("bad value")
    assert not any(issubclass(cls, other) for other in USER_ERRORS if other is not cls)


def test_the_module_defines_no_other_user_error():
    found = {v for v in vars(errors).values()
             if isinstance(v, type) and issubclass(v, UserError) and v is not UserError}
    assert found == set(USER_ERRORS)


@pytest.mark.parametrize("code,words", [(errno.ENOSPC, "No space left on device"),
                                        (errno.EFBIG, "File too large")])
def test_os_reason_of_an_os_error_is_its_strerror(code, words):
    error = OSError(code, os.strerror(code), "/run/checkpoints/ckpt-4.index")
    assert os_reason(error) == words
    assert "/run/checkpoints" not in os_reason(error)  # the caller names the path itself


def test_os_reason_of_an_os_error_without_errno_is_its_text():
    assert os_reason(OSError("disk full")) == "disk full"
    assert os_reason(PermissionError(errno.EACCES, "Permission denied")) == "Permission denied"


@pytest.mark.parametrize("cls", [tf.errors.ResourceExhaustedError, tf.errors.UnknownError])
def test_os_reason_of_a_tensorflow_error_is_the_end_of_its_first_line(cls):
    # What a SaveV2 on a full disk or past a file-size limit reports, op, node and all.
    for words in ("No space left on device", "File too large"):
        message = ("{{function_node __wrapped__SaveV2_dtypes_42_device_/job:localhost/replica:0/"
                   "task:0/device:CPU:0}} /run/checkpoints/ckpt-4_temp/part-00000-of-00001.data-"
                   f"00000-of-00001.tempstate123; {words}\n\t [[{{{{node SaveV2}}}}]] [Op:SaveV2]")
        assert os_reason(cls(None, None, message)) == words
        flush = f"Failed to flush; {words} [Op:WriteFile] name: "
        assert os_reason(cls(None, None, flush)) == words


def test_os_reason_of_a_real_failed_tensorflow_write(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(tf.errors.OpError) as e:  # its "folder" is a file
        tf.io.write_file(str(tmp_path / "file" / "out"), "x")
    assert os_reason(e.value) == "Not a directory"


def test_os_reason_of_other_exceptions_is_their_first_line():
    assert os_reason(RuntimeError("  first; second\nthird  ")) == "second"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_interrupted_names_the_signal_and_step_and_says_how_to_resume(signum):
    e = Interrupted(signum, 7)
    assert (e.signum, e.step) == (signum, 7)
    name = {signal.SIGTERM: "SIGTERM", signal.SIGINT: "SIGINT"}[signum]
    assert str(e) == (f"stopped by {name} at step 7; a checkpoint was saved: rerun the same "
                      "command to resume")
    # Not a UserError: run.py must exit 128 + signum for it, not 2 with "error: ...".
    assert not isinstance(e, UserError)


def test_a_worker_stopped_by_another_ones_signal_says_so_and_exits_75():
    e = Interrupted(None, 31)
    assert (e.signum, e.step, e.exit_code) == (None, 31, RESUME_EXIT) and RESUME_EXIT == 75
    assert str(e) == ("stopped at step 31 because another worker received a stop signal (a "
                      "preemption notice); every worker saved a checkpoint there: rerun the same "
                      "commands on every worker to resume")
    assert str(Interrupted(signal.SIGTERM, 31, cluster=True)) == (
        "stopped by SIGTERM at step 31; every worker saved a checkpoint there: rerun the same "
        "commands on every worker to resume")
    assert Interrupted(signal.SIGTERM, 31, cluster=True).exit_code == 143
    assert Interrupted(signal.SIGTERM, 31).exit_code == 143
    assert Interrupted(signal.SIGINT, 31).exit_code == 130


def test_a_lost_worker_names_it_and_the_checkpoint_to_resume_from():
    e = WorkerLost("worker 1 stopped sending heartbeats", "/runs/x/checkpoints/ckpt-25")
    assert str(e) == ("a worker of the cluster was lost (worker 1 stopped sending heartbeats); "
                      "the newest checkpoint is /runs/x/checkpoints/ckpt-25: rerun the same "
                      "commands on every worker to resume from it")
    assert e.exit_code == RESUME_EXIT and not isinstance(e, UserError)
    assert "(none: the run starts again from step 0)" in str(WorkerLost("worker 0: x", None))


def test_interrupted_refuses_a_number_that_is_no_signal():
    with pytest.raises(ValueError):
        Interrupted(10_000, 1)


def test_faults_re_exports_the_same_classes():
    # train.py raises faults.Interrupted, run.py catches errors.Interrupted: one class.
    assert faults.Interrupted is Interrupted and faults.DivergenceError is DivergenceError
