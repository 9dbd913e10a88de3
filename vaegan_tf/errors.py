"""The one exception type that means "the user's input is wrong".

run.py prints such errors as a single line and exits non-zero; anything else is a bug and keeps its
traceback. Library modules raise subclasses so tests can tell the causes apart.
"""


class UserError(Exception):
    """A problem the user can fix: a bad flag value, missing data, a corrupt file."""


class ConfigError(UserError):
    """A Config field holds an invalid value; the message names the field."""


class DataError(UserError):
    """Input data is missing, malformed or unreadable; the message names the path."""


class CheckpointError(UserError):
    """A workdir or checkpoint cannot be used with the requested config."""
