"""Corrupt or truncated images met while decoding: stop naming the file, or skip and count them.

TensorFlow's decoders fail with an error that does not name the file, and inside tf.data that
error would end the run with a traceback. So the pipeline decodes each image in a one-element
dataset with `ignore_errors()` and a fallback (see data.py), which turns a failure into an `ok`
flag travelling with the file's name. Then either `assert_ok` stops at the first bad file with an
InvalidArgumentError carrying MARKER and the name (which `as_data_error` turns into a one-line
DataError), or `CorruptImages.keep` drops it and records its name for the log and TensorBoard.
"""

from __future__ import annotations

import contextlib
import re
import threading

import keras
import tensorflow as tf
from absl import logging

from vaegan_tf.errors import DataError

MARKER = "corrupt, truncated or not an image:"
# The name travels inside one string, between delimiters: TensorFlow formats an Assert's data
# differently in eager code and inside tf.data, but keeps a string's characters.
_NAMED = re.compile(re.escape(MARKER) + r" <<(.*?)>>", re.S)


def assert_ok(image: tf.Tensor, attributes: tf.Tensor, ok: tf.Tensor,
              name: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Passes a decoded example through, or fails naming its file."""
    message = tf.strings.join([MARKER, " <<", name, ">>"])
    with tf.control_dependencies([tf.debugging.Assert(ok, [message], summarize=1)]):
        return tf.identity(image), attributes


def as_data_error(error: Exception) -> DataError | None:
    """The DataError for an error raised by `assert_ok`, or None for any other error."""
    match = _NAMED.search(str(error))
    if match is None:
        return None
    name = match.group(1)
    return DataError(f"{name} is a corrupt, truncated or unreadable image; replace or delete it "
                     f"(and its rows in the annotation files), or pass --skip_corrupt to skip "
                     f"such images")


@contextlib.contextmanager
def raise_data_errors():
    """Turns a corrupt-image failure from inside tf.data into its one-line DataError."""
    try:
        yield
    except tf.errors.InvalidArgumentError as e:
        data_error = as_data_error(e)
        if data_error is None:
            raise
        raise data_error from None


class CorruptImages:
    """The distinct images skipped as corrupt, recorded from inside tf.data (--skip_corrupt)."""

    def __init__(self, log_each: bool = True):
        self._names: set[str] = set()
        self.log_each = log_each  # a warning per image; else the caller summarises them
        self._lock = threading.Lock()  # tf.data calls back from its own threads

    @property
    def count(self) -> int:
        return len(self._names)

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._names)

    def record(self, name: str) -> None:
        with self._lock:
            if name in self._names:
                return  # an uncached pipeline meets the same file again every pass
            self._names.add(name)
            count = len(self._names)
        if self.log_each:
            logging.warning("Skipped %s: corrupt, truncated or not an image (%d skipped so far)",
                            name, count)

    def _record_tensor(self, name: tf.Tensor) -> tf.Tensor:
        self.record(name.numpy().decode("utf-8", "replace"))
        return tf.constant(False)

    def keep(self, image: tf.Tensor, attributes: tf.Tensor, ok: tf.Tensor,
             name: tf.Tensor) -> tf.Tensor:
        """A tf.data filter predicate: True for good examples; records and drops bad ones."""
        return tf.cond(ok, lambda: tf.constant(True),
                       lambda: tf.py_function(self._record_tensor, [name], tf.bool))


class SkippedImagesCallback(keras.callbacks.Callback):
    """Adds `data/skipped_corrupt` to each log interval's logs, so TensorBoard charts it.

    Place it before the TensorBoard logger in the callback list: Keras hands every callback the
    same logs dict in order.
    """

    def __init__(self, corrupt: CorruptImages):
        super().__init__()
        self.corrupt = corrupt

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["data/skipped_corrupt"] = float(self.corrupt.count)
