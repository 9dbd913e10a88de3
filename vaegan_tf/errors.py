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


class Interrupted(Exception):
    """Training stopped on a signal after saving a checkpoint; the process should exit cleanly."""

    def __init__(self, signum: int, step: int):
        super().__init__(f"stopped by {signal.Signals(signum).name} at step {step}; a checkpoint "
                         "was saved: rerun the same command to resume")
        self.signum, self.step = signum, step
