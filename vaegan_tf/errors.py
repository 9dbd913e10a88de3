"""The exception types that mean "the user's input is wrong", and the clean stop on a signal.

run.py prints such errors as a single line and exits non-zero; anything else is a bug and keeps its
traceback. Library modules raise subclasses so tests can tell the causes apart.
"""

import signal


class UserError(Exception):
    """A problem the user can fix: a bad flag value, missing data, a corrupt file."""


class ConfigError(UserError):
    """A Config field holds an invalid value; the message names the field."""


class WriteError(UserError):
    """An output (checkpoint, SavedModel) could not be written, e.g. on a full disk; the message
    names the path, and what was written before it is intact."""


def os_reason(error: Exception) -> str:
    """The operating system's words for a failed write: "No space left on device", "File too
    large", ... (an OSError's strerror, or the end of a TensorFlow OpError's message)."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    text = str(getattr(error, "message", error)).strip().splitlines()[0]
    return text.split(" [Op:")[0].rsplit("; ", 1)[-1]


class DataError(UserError):
    """Input data is missing, malformed or unreadable; the message names the path."""


class CheckpointError(UserError):
    """A workdir or checkpoint cannot be used with the requested config."""


class DivergenceError(UserError):
    """Training kept producing NaN/inf after every allowed rollback."""


# sysexits.h's EX_TEMPFAIL ("a temporary failure; retry"): a worker that stopped because another
# worker of its cluster did. Rerunning the same commands resumes, so a scheduler may restart it.
RESUME_EXIT = 75


class Interrupted(Exception):
    """Training stopped on a signal after saving a checkpoint; the process should exit cleanly.

    `signum` is the signal this process received; None for a worker of a cluster that stopped
    because another worker received one. `cluster`: a multi-worker run, where every worker saved
    the same step and the rerun is on every worker.
    """

    def __init__(self, signum: int | None, step: int, cluster: bool = False):
        every = ("every worker saved a checkpoint there: rerun the same commands on every worker "
                 "to resume")
        if signum is None:
            text = (f"stopped at step {step} because another worker received a stop signal (a "
                    f"preemption notice); {every}")
        elif cluster:
            text = f"stopped by {signal.Signals(signum).name} at step {step}; {every}"
        else:
            text = (f"stopped by {signal.Signals(signum).name} at step {step}; a checkpoint was "
                    "saved: rerun the same command to resume")
        super().__init__(text)
        self.signum, self.step = signum, step

    @property
    def exit_code(self) -> int:
        return RESUME_EXIT if self.signum is None else 128 + self.signum


class WorkerLost(Exception):
    """A worker of a multi-worker run went away without notice (killed, its machine lost); the
    others stop instead of waiting for it. Not a UserError: it exits with RESUME_EXIT."""

    exit_code = RESUME_EXIT

    def __init__(self, reason: str, newest: str | None):
        super().__init__(
            f"a worker of the cluster was lost ({reason}); the newest checkpoint is "
            f"{newest or '(none: the run starts again from step 0)'}: rerun the same commands "
            "on every worker to resume from it")
        self.reason, self.newest = reason, newest
