"""The training progress line: the global step of the total, images/s, time left and a few losses.

Keras's own bar counts fit()'s "Epoch 3/40", our log intervals of --log_every steps, and prints every metric (14 for a
vaegan, 665 characters); the rest stay in TensorBoard. Lines fit 100 columns.
"""

from __future__ import annotations

import sys
import time

from vaegan_tf.training.step_clock import StepCallback

# The losses worth a glance, in this order; a model shows the first four it has.
SHOWN = ("enc_loss", "dec_loss", "dis_loss", "recon_mse", "d_real", "d_prior")
SHORT = {"enc_loss": "enc", "dec_loss": "dec", "dis_loss": "dis"}
WIDTH = 100
REFRESH_S = 1.0  # the live line's redraw interval on a terminal


def format_duration(seconds: float) -> str:
    """m:ss, or h:mm:ss from an hour on."""
    seconds = max(int(round(seconds)), 0)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def losses_text(logs: dict, prefix: str = "") -> str:
    """`enc 95.1  dec 7.03  dis 0.309  recon_mse 0.0831`: the first four SHOWN found in logs."""
    names = [n for n in SHOWN if prefix + n in logs][:4]
    return "  ".join(f"{SHORT.get(n, n)} {float(logs[prefix + n]):.4g}" for n in names)


def progress_text(step: int, total: int, rate: float, seconds_left: float | None,
                  logs: dict) -> str:
    """One progress line, cut to WIDTH columns."""
    eta = "" if seconds_left is None else f"  eta {format_duration(seconds_left)}"
    head = f"step {step:>{len(str(total))}}/{total}  {rate:.1f} img/s{eta}"
    losses = losses_text(logs)
    return (f"{head}  {losses}" if losses else head)[:WIDTH]


class ProgressLine(StepCallback):
    """verbose=1: a line every --log_every steps, redrawn live in between on a terminal;
    verbose=2: only those lines; 0: nothing. Validation results get a line of their own."""

    def __init__(self, total_steps: int, batch_size: int, verbose: int, stream=None):
        super().__init__()
        self.total, self.batch_size, self.verbose = total_steps, batch_size, verbose
        self.stream = stream or sys.stdout
        self.live = verbose == 1 and getattr(self.stream, "isatty", lambda: False)()
        self.first = 0
        self.start = self.drawn = 0.0

    def on_train_begin(self, logs=None):
        self.first = self.step
        self.start = self.drawn = time.perf_counter()

    def _text(self, logs) -> str:
        elapsed = time.perf_counter() - self.start
        done = self.step - self.first
        rate = done * self.batch_size / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.step) * elapsed / done if done else None
        return progress_text(self.step, self.total, rate, left, logs or {})

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if self.live and now - self.drawn >= REFRESH_S:
            self.drawn = now
            self.stream.write("\r" + self._text(logs).ljust(WIDTH))
            self.stream.flush()

    def on_epoch_end(self, epoch, logs=None):
        if not self.verbose:
            return
        logs = logs or {}
        lines = [self._text({k: v for k, v in logs.items() if not k.startswith("val_")})]
        validation = losses_text(logs, prefix="val_")
        if validation:
            lines.append(f"  validation at step {self.step}: {validation}"[:WIDTH])
        self.stream.write(("\r" if self.live else "") + "\n".join(
            line.ljust(WIDTH) if self.live else line for line in lines) + "\n")
        self.stream.flush()
