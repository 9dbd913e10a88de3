"""TensorFlow started without its start-up chatter (the progress line is progress.py).

TensorFlow 2.21's native start-up lines (oneDNN, "Could not find cuda drivers", "failed call to
cuInit ... (303)" on every CPU machine) are written to file descriptor 2 before its logging is set
up, so TF_CPP_MIN_LOG_LEVEL does not reach them. `import_tensorflow` catches fd 2 while TensorFlow
loads and looks for devices, and passes on every line that is not one of those known notices.
One more notice comes later, at the first op of a type oneDNN runs only with AVX-512, so run.py
also calls `filter_native_stderr`, which filters fd 2 for the whole run.
"""

from __future__ import annotations

import contextlib
import logging as std_logging
import os
import atexit
import re
import subprocess
import sys
import tempfile

# Notices about the machine, not about the run: a CPU machine always has no CUDA driver.
STARTUP_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IW]\d{4} [\d:. ]+\d+ (port|cudart_stub|cpu_feature_guard|cuda_executor|cuda_dnn|cuda_fft"
    r"|cuda_blas)\.cc:\d+\] .*"
    r"|E\d{4} [\d:. ]+\d+ cuda_platform\.cc:\d+\] failed call to cuInit: .*"
    # Once per process, at any time in a run, on CPUs without AVX-512 (DT_UINT8, DT_BOOL, ...):
    r"|E\d{4} [\d:. ]+\d+ util\.cc:\d+\] oneDNN supports DT_\w+ only on platforms with "
    r"AVX-512\. .*"
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler "
    r"flags\.)$")


def drop_startup_noise(text: str) -> str:
    """`text` without the lines STARTUP_NOISE matches."""
    return "".join(line for line in text.splitlines(keepends=True)
                   if not STARTUP_NOISE.match(line.rstrip("\n")))


@contextlib.contextmanager
def _filtered_stderr():
    """Collects what is written to fd 2 (by C++ too) and re-emits it without the known notices."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            sys.stderr.write(drop_startup_noise(caught.read().decode("utf-8", "replace")))
            sys.stderr.flush()


# TensorFlow's C++ record of a collective op aborted because a worker of the cluster went away: a
# log line and the status's continuation lines, ending in its payload ("...='']") or gRPC's status
# ("grpc_status:14}"). train_mode says the same in one line (cluster_faults.lost_worker).
ABORT_NOISE = re.compile(
    r"^E\d{4} [\d:. ]+\d+ (base_collective_executor|ring_alg|collective_ops_utils|"
    r"hierarchical_tree_broadcaster|permuter)\.cc:\d+\] .*")
ABORT_END = re.compile(r".*(\]|grpc_status:\d+\})$")

# The filter of `filter_native_stderr`, run as a child: a thread would die with this process and
# lose the last lines before a native abort, which are the ones that say why it aborted. An abort
# record's continuation lines are held until its end; at most 12, else they are passed on.
_FILTER = """
import re, sys
noise, block, end = (re.compile(p) for p in sys.argv[1:4])
out = sys.stderr.buffer
held = None
for line in sys.stdin.buffer:
    text = line.decode("utf-8", "replace").rstrip("\\n")
    if held is not None:
        held.append(line)
        if end.match(text):
            held = None
        elif len(held) > 12:
            out.write(b"".join(held))
            out.flush()
            held = None
        continue
    if block.match(text):
        held = [] if not end.match(text) else None
    elif not noise.match(text):
        out.write(line)
        out.flush()
if held:
    out.write(b"".join(held))
"""


def filter_native_stderr() -> None:
    """For the rest of the process, drops STARTUP_NOISE lines from fd 2 (C++ writes included).

    fd 2 becomes a pipe into a small child process that passes every other line on to the old
    fd 2 as it comes. The child is in its own session, so a signal to this process group (Ctrl-C,
    a TERM to the group) leaves it alive to drain the pipe; it ends when this process has died and
    the pipe is closed. At a normal exit fd 2 is restored and the child waited for, so nothing
    written last (the one-line error message) arrives after the process has ended.
    """
    sys.stderr.flush()
    child = subprocess.Popen([sys.executable, "-I", "-S", "-c", _FILTER, STARTUP_NOISE.pattern,
                              ABORT_NOISE.pattern, ABORT_END.pattern],
                             stdin=subprocess.PIPE, start_new_session=True, close_fds=True)
    saved = os.dup(2)
    os.dup2(child.stdin.fileno(), 2)
    child.stdin.close()

    def restore():
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end here: the child reads to its end
        os.close(saved)
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:  # a process started from here still holds the pipe
            pass
    atexit.register(restore)


class LibraryInfoFilter(std_logging.Filter):
    """Passes every record except INFO and below logged from inside the given package folders.

    TensorFlow logs its own progress through absl at INFO (a line per SavedModel signature
    rename, "Sharding callback duration", fingerprints); the run logs one line per export itself.
    """

    def __init__(self, folders):
        super().__init__()
        self.folders = tuple(os.path.join(os.path.abspath(f), "") for f in folders)

    def filter(self, record: std_logging.LogRecord) -> bool:
        return record.levelno > std_logging.INFO or not record.pathname.startswith(self.folders)


def import_tensorflow():
    """Imports TensorFlow and Keras and lists the devices, minus the start-up notices, and keeps
    their INFO lines out of the log (warnings and errors still show); returns tf."""
    from absl import logging as absl_logging
    with _filtered_stderr():
        import keras
        import tensorflow as tf
        tf.config.list_physical_devices()
    quiet = LibraryInfoFilter([os.path.dirname(m.__file__) for m in (tf, keras)])
    absl_logging.get_absl_handler().addFilter(quiet)
    std_logging.getLogger("tensorflow").addFilter(quiet)
    return tf

