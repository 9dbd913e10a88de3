"""console.py: TensorFlow's start-up notices dropped, everything else on stderr kept."""

import logging
import os
import subprocess
import sys

import pytest

from vaegan_tf import console

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# As TensorFlow 2.21 prints them on a CPU machine.
NOISE = """\
WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1796030841.528181   27573 port.cc:153] oneDNN custom operations are on. You may see slightly different numerical results.
I0000 00:00:1796030841.528556   27573 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
E0000 00:00:1796030843.710354   27573 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)
I0000 00:00:1796031019.954030   30335 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use available CPU instructions.
To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow with the appropriate compiler flags.
E0000 00:00:1796504687.355655    3629 util.cc:131] oneDNN supports DT_UINT8 only on platforms with AVX-512. Falling back to the default Eigen-based implementation if present.
"""
KEPT = """\
E0000 00:00:1796030843.710354   27573 op_kernel.cc:1800] OP_REQUIRES failed: out of memory
W1130 09:27:28.477968 140545819069312 train.py:143] a warning of ours
Traceback (most recent call last):
"""


def test_only_the_known_start_up_notices_are_dropped():
    assert console.drop_startup_noise(NOISE) == ""
    assert console.drop_startup_noise(KEPT) == KEPT
    mixed = "".join(a + b for a, b in zip(NOISE.splitlines(True), KEPT.splitlines(True)))
    assert console.drop_startup_noise(mixed) == KEPT


@pytest.mark.slow  # imports TensorFlow in a subprocess
def test_importing_tensorflow_prints_nothing_but_what_else_goes_to_fd_2():
    code = ("import os, sys\n"
            "from vaegan_tf import console\n"
            "tf = console.import_tensorflow()\n"
            "print(float(tf.constant(2.0) * 3), file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0"})
    assert result.returncode == 0, result.stderr
    assert result.stderr == "6.0\n" and result.stdout == ""


def test_a_line_written_to_fd_2_while_filtering_still_shows(capfd):
    with console._filtered_stderr():
        os.write(2, NOISE.encode() + b"a native error\n")
    assert capfd.readouterr().err == "a native error\n"


@pytest.mark.parametrize("ending", ["sys.exit(2)", "os.abort()"])
def test_a_run_filters_fd_2_to_its_last_line_even_when_it_aborts(ending):
    # A native notice written mid-run is dropped; the lines around it arrive in order, the last
    # one too, even when an abort kills the process before it could flush anything itself.
    code = ("import os, sys\n"
            "from vaegan_tf import console\n"
            "console.filter_native_stderr()\n"
            f"os.write(2, {NOISE.encode()!r})\n"
            "print('first', file=sys.stderr, flush=True)\n"
            f"os.write(2, {NOISE.splitlines()[-1].encode()!r} + b'\\n' + b'native\\n')\n"
            "print('error: last', file=sys.stderr)\n"
            f"sys.stderr.flush(); {ending}\n")
    env = {**os.environ, "VAEGAN_TF_LIGHT_IMPORT": "1"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            timeout=60, env=env)
    assert result.stderr.decode() == "first\nnative\nerror: last\n"
    assert result.returncode != 0


# A survivor's collective ops aborted because a peer went away, as TensorFlow 2.21 logs it:
# records of several lines, ending in a status payload or gRPC's status.
ABORTS = """\
E0000 00:00:1796525275.841645   31859 base_collective_executor.cc:252] BaseCollectiveExecutor::StartAbort UNAVAILABLE: Error reported from /job:worker/task:1: The following tasks are unhealthy (stopped sending heartbeats):
/job:worker/replica:0/task:1
The tasks have crashed. Check the task logs for an earlier error. [type.googleapis.com/tensorflow.CoordinationServiceError='\\"\\n\\n\\x06worker\\x10\\x01']
E0000 00:00:1796525275.841804   31859 ring_alg.cc:291] Aborting RingReduce with UNAVAILABLE: Collective ops is aborted by: Error reported from /job:worker/task:1
The error could be from a previous operation. Restart your program to reset. [type.googleapis.com/tensorflow.DerivedStatus='']
E0000 00:00:1796525170.481660   20388 base_collective_executor.cc:252] BaseCollectiveExecutor::StartAbort UNAVAILABLE: Socket closed
Additional GRPC error information from remote target /job:worker/replica:0/task:0 while calling /tensorflow.WorkerService/CompleteInstance:
:UNKNOWN:Error received from peer  {grpc_message:"Socket closed", grpc_status:14}
"""


def _through_the_filter(text: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", console._FILTER, console.STARTUP_NOISE.pattern,
         console.ABORT_NOISE.pattern, console.ABORT_END.pattern],
        input=text.encode(), capture_output=True, timeout=60)
    return result.stderr.decode()


def test_a_lost_workers_abort_records_are_dropped_whole_and_the_lines_after_them_kept():
    line = "a worker of the cluster was lost (worker 1 stopped sending heartbeats); ...\n"
    assert _through_the_filter(ABORTS + line) == line
    assert _through_the_filter(KEPT + ABORTS + KEPT) == KEPT + KEPT


def test_an_abort_record_without_its_end_is_passed_on_after_twelve_lines():
    start = ABORTS.splitlines(True)[0]
    body = "".join(f"line {i}\n" for i in range(20))
    assert _through_the_filter(start + body) == body  # only the record's first line dropped
    assert _through_the_filter(start + "the last words\n") == "the last words\n"  # at EOF


def test_library_info_lines_are_dropped_and_their_warnings_kept(tmp_path):
    quiet = console.LibraryInfoFilter([str(tmp_path / "tensorflow")])

    def record(level, path):
        return logging.LogRecord("absl", level, path, 1, "message", None, None)

    inside = str(tmp_path / "tensorflow" / "python" / "saver.py")
    assert not quiet.filter(record(logging.INFO, inside))
    assert quiet.filter(record(logging.WARNING, inside))
    assert quiet.filter(record(logging.INFO, str(tmp_path / "vaegan_tf" / "train.py")))
    assert quiet.filter(record(logging.INFO, str(tmp_path / "tensorflow_other" / "x.py")))
