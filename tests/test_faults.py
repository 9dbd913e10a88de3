"""Faults: NaN batches, divergence rollbacks, and a clean stop on SIGTERM."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_config

from export.saved_model import exports
from vaegan_tf import data
from vaegan_tf.errors import ConfigError, DivergenceError
from vaegan_tf.model.vaegan import VAEGAN
from vaegan_tf.training import checkpointing, faults, train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _model(**kw):
    model = VAEGAN(tiny_config(**kw))
    model.compile()
    return model


def test_nan_batch_is_not_applied():
    model = _model()
    before = [v.numpy() for v in model.weights]
    x = np.random.default_rng(0).uniform(-1, 1, (8, 32, 32, 3)).astype(np.float32)
    x[3, 5, 5, 1] = np.nan
    logs = model.train_step(tf.constant(x))
    assert float(logs["nonfinite"]) == 1.0
    assert int(model.bad_streak.numpy()) == 1 and int(model.step.numpy()) == 1
    trainable = {v.path for net in model.networks.values() for v in net.trainable_variables}
    for v, b in zip(model.weights, before):
        if v.path in trainable:
            np.testing.assert_array_equal(v.numpy(), b, err_msg=v.path)
    logs = model.train_step(tf.constant(np.nan_to_num(x)))
    assert float(logs["nonfinite"]) == 0.5 and int(model.bad_streak.numpy()) == 0


def test_no_checkpoint_while_diverging(tmp_path):
    model = _model()
    manager = checkpointing.make_manager(model, str(tmp_path), model.config)
    model.bad_streak.assign(1)
    assert checkpointing.save(manager, model, 1) is None
    model.bad_streak.assign(0)
    model.decoder.weights[0].assign(tf.fill(model.decoder.weights[0].shape, np.inf))
    assert checkpointing.save(manager, model, 1) is None
    assert manager.checkpoints == []


def _poison_window(monkeypatch, window: tf.Variable):
    """Feeds NaN images at the training steps s with window[0] <= s < window[1] (0-based)."""
    make = data.training_stream

    def training_stream(*args, **kw):
        batches = make(*args, **kw)
        return lambda first: batches(first).enumerate(start=first).map(lambda i, xy: (tf.where(
            (i >= window[0]) & (i < window[1]), tf.fill(tf.shape(xy[0]), np.nan), xy[0]), xy[1]))
    monkeypatch.setattr(train.data, "training_stream", training_stream)


def _poisoned(monkeypatch, from_step: int) -> tf.Variable:
    """Feeds NaN images from the `from_step`-th step (0-based) on; returns the window to move."""
    window = tf.Variable([from_step, 2 ** 62], dtype=tf.int64)
    _poison_window(monkeypatch, window)
    return window


@pytest.mark.slow  # a 12-step run that rolls back
@pytest.mark.parametrize("steps_per_execution", [1, 2])
def test_divergence_rolls_back_with_lower_learning_rate(tmp_path, monkeypatch,
                                                         steps_per_execution):
    window = _poisoned(monkeypatch, from_step=2)
    recover = faults.DivergenceGuard.recover
    seen = {}

    def recover_once(self):
        step = recover(self)
        seen["step"], seen["lr_scale"] = step, float(self.model.lr_scale.numpy())
        window.assign([0, 0])  # the bad stretch is over
        return step
    monkeypatch.setattr(faults.DivergenceGuard, "recover", recover_once)
    config = tiny_config(data_dir=str(tmp_path / "data"), train_steps=8, divergence_patience=2,
                         checkpoint_every=2, keep_checkpoints=10,
                         steps_per_execution=steps_per_execution)
    workdir = str(tmp_path / "run")
    final = train.train_mode(config, workdir, verbose=0)
    assert seen == {"step": 2, "lr_scale": 0.5}  # back to the last good checkpoint, lr halved
    assert all(np.isfinite(v) for v in final.values())
    model = VAEGAN(config)
    model.compile()
    manager = checkpointing.make_manager(model, workdir, config)
    # Every checkpoint written is finite; none was written from the diverged steps 3-4.
    for path in manager.checkpoints:
        reader = tf.train.load_checkpoint(path)
        for name in reader.get_variable_to_shape_map():
            value = reader.get_tensor(name)
            if np.issubdtype(np.asarray(value).dtype, np.floating):
                assert np.all(np.isfinite(value)), (path, name)
    assert checkpointing.restore_latest(manager) == 8
    assert float(model.lr_scale.numpy()) == 0.5  # the lowered rate survives a resume


@pytest.mark.slow  # four divergence rollbacks, each a restore and retrace
def test_each_rollback_halves_the_rate_once_more(tmp_path, monkeypatch):
    # NaN batches at steps 5-6, then (after the first rollback) at steps 9-10: the second rollback
    # restores a checkpoint (step 8) that already holds the first back-off.
    window = tf.Variable([4, 6], dtype=tf.int64)  # poisoned steps [lo, hi), 0-based
    _poison_window(monkeypatch, window)
    recover = faults.DivergenceGuard.recover
    seen = []

    def recover_and_record(self):
        step = recover(self)
        seen.append((step, float(self.model.lr_scale.numpy())))
        window.assign([8, 10] if len(seen) == 1 else [0, 0])
        return step
    monkeypatch.setattr(faults.DivergenceGuard, "recover", recover_and_record)
    config = tiny_config(data_dir=str(tmp_path / "data"), train_steps=12, divergence_patience=2,
                         checkpoint_every=2, keep_checkpoints=10, max_recoveries=3)
    train.train_mode(config, str(tmp_path / "run"), verbose=0)
    # x0.5 of the original rate, then x0.25 (not x0.125: the restored 0.5 is not backed off twice).
    assert seen == [(4, 0.5), (8, 0.25)]


@pytest.mark.slow  # rolls back until the limit
def test_persistent_divergence_stops_with_a_clear_error(tmp_path, monkeypatch):
    _poisoned(monkeypatch, from_step=2)
    config = tiny_config(data_dir=str(tmp_path / "data"), train_steps=20, divergence_patience=2,
                         checkpoint_every=2, max_recoveries=2)
    with pytest.raises(DivergenceError, match="diverged .* after 2 rollbacks"):
        train.train_mode(config, str(tmp_path / "run"), verbose=0)


@pytest.mark.slow  # a diverging run with exports
def test_a_diverging_run_exports_only_checkpointed_states(tmp_path, monkeypatch):
    # NaN from step 3 on: step 2 is checkpointed and exported; the run stops at step 4 (twice, as
    # a rollback to step 2 meets the same batches) in a diverging state, which is neither.
    _poisoned(monkeypatch, from_step=2)
    config = tiny_config(data_dir=str(tmp_path / "data"), train_steps=20, divergence_patience=2,
                         checkpoint_every=2, export_every=2, max_recoveries=1)
    workdir = tmp_path / "run"
    with pytest.raises(DivergenceError):
        train.train_mode(config, str(workdir), verbose=0,
                         chief_callbacks=[exports(config.export_every)])
    for name in ("encoder", "decoder"):
        assert sorted(os.listdir(workdir / "export" / name)) == ["2"], name
    assert tf.train.latest_checkpoint(str(workdir / "checkpoints")).endswith("ckpt-2")


def test_export_every_must_be_a_multiple_of_checkpoint_every():
    with pytest.raises(ConfigError, match="--export_every.*multiple of --checkpoint_every=2"):
        tiny_config(checkpoint_every=2, export_every=3)
    assert tiny_config(checkpoint_every=2, export_every=4).export_every == 4


@pytest.mark.slow  # run.py in a subprocess, signalled
def test_sigterm_saves_a_checkpoint_at_the_current_step(tmp_path):
    workdir = tmp_path / "run"
    cmd = [sys.executable, os.path.join(ROOT, "run.py"), f"--workdir={workdir}", "--dataset=synthetic",
           "--synthetic_images=60", "--image_size=32", "--enc_width=4", "--dec_width=2",
           "--dis_width=2", "--fc_width=16", "--latent_dim=4", "--batch_size=4",
           "--train_steps=100000", "--log_every=1", "--eval_every=1000", "--image_every=1000",
           "--checkpoint_every=100000", "--eval_batches=1", "--verbose=0"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 90
    events = workdir / "tensorboard" / "train"
    while time.time() < deadline and not (events.exists() and any(events.iterdir())):
        time.sleep(0.5)
    time.sleep(2)  # a few steps in
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert "Traceback" not in err
    last = [l for l in err.splitlines() if l.strip()][-1]
    assert last.startswith("stopped by SIGTERM at step ")
    step = int(last.split("at step ")[1].split(";")[0])
    assert step > 0
    assert tf.train.latest_checkpoint(str(workdir / "checkpoints")).endswith(f"ckpt-{step}")


def _tiny_cmd(workdir, *extra):
    return [sys.executable, os.path.join(ROOT, "run.py"), f"--workdir={workdir}",
            "--dataset=synthetic", "--synthetic_images=60", "--image_size=32", "--enc_width=4",
            "--dec_width=2", "--dis_width=2", "--fc_width=16", "--latent_dim=4", "--batch_size=4",
            "--log_every=1", "--eval_batches=1", "--verbose=0", *extra]


def _variables(path):
    reader = tf.train.load_checkpoint(path)
    return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()
            if not n.startswith("save_counter")}


@pytest.mark.slow  # one run.py straight, then killed and resumed on each cache
def test_sigkill_then_resume_is_bit_identical_on_every_cache(tmp_path):
    """The batches do not depend on --cache, so one uninterrupted run (on the memory cache) is the
    reference for a killed and resumed run on each cache."""
    flags = ["--deterministic", "--train_steps=12", "--checkpoint_every=3", "--eval_every=2",
             "--image_every=4", f"--data_dir={tmp_path / 'data'}",
             f"--cache_dir={tmp_path / 'cache'}"]
    subprocess.run(_tiny_cmd(tmp_path / "straight", *flags, "--cache=memory"), check=True,
                   capture_output=True, timeout=180)
    a = _variables(str(tmp_path / "straight" / "checkpoints" / "ckpt-12"))
    assert len(a) > 50
    for cache in ("memory", "file", "none"):
        killed = tmp_path / f"killed_{cache}"
        command = _tiny_cmd(killed, *flags, f"--cache={cache}")
        proc = subprocess.Popen(command, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while time.time() < deadline and not tf.train.latest_checkpoint(
                str(killed / "checkpoints")):
            time.sleep(0.05)
        proc.kill()  # SIGKILL: no chance to save anything
        proc.wait()
        first = tf.train.latest_checkpoint(str(killed / "checkpoints"))
        assert first is not None and not first.endswith("ckpt-12"), first
        subprocess.run(command, check=True, capture_output=True, timeout=180)
        b = _variables(str(killed / "checkpoints" / "ckpt-12"))
        assert a.keys() == b.keys()
        for name in a:
            np.testing.assert_array_equal(a[name], b[name], err_msg=f"{cache}: {name}")


@pytest.mark.slow  # run.py in a subprocess under a file-size limit
def test_a_full_disk_stops_naming_the_checkpoint_and_keeps_the_previous_one(tmp_path):
    import re
    import resource
    workdir = tmp_path / "run"
    proc = subprocess.Popen(
        _tiny_cmd(workdir, "--train_steps=100000", "--checkpoint_every=40", "--eval_every=1000",
                  "--image_every=100000", f"--data_dir={tmp_path / 'data'}"),
        stderr=subprocess.PIPE, text=True)
    ckpts, deadline = workdir / "checkpoints", time.time() + 120
    while time.time() < deadline and not tf.train.latest_checkpoint(str(ckpts)):
        time.sleep(0.02)
    first = tf.train.latest_checkpoint(str(ckpts))
    assert first is not None
    # From now on no file may grow to a checkpoint's size: the next checkpoint cannot be written.
    size = os.path.getsize(first + ".data-00000-of-00001")
    resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (size - 1, resource.RLIM_INFINITY))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "Traceback" not in err, err[-2000:]
    last = [l for l in err.splitlines() if l.strip()][-1]
    found = re.fullmatch(r"error: cannot write checkpoint (\S+): File too large; the newest "
                         r"complete one, (\S+), is intact: .*", last)
    assert found, last
    failed, kept = found.groups()
    assert kept == first and failed.startswith(str(ckpts / "ckpt-"))
    assert not [f for f in os.listdir(ckpts) if f.startswith(os.path.basename(failed))]
    assert tf.train.latest_checkpoint(str(ckpts)) == first
    assert len(_variables(first)) > 50  # still readable


@pytest.mark.slow  # eight run.py processes
def test_six_kills_at_random_moments_then_the_same_weights(tmp_path):
    # Checkpoints, exports, sample grids and TensorBoard writes every few steps. A kill comes at a
    # random moment, or as soon as the phase it waits for (an export or a checkpoint being
    # written) shows, if it does within a minute.
    import random
    flags = ["--deterministic", "--train_steps=150", "--checkpoint_every=3", "--export_every=15",
             "--eval_every=3", "--image_every=3", f"--data_dir={tmp_path / 'data'}"]
    subprocess.run(_tiny_cmd(tmp_path / "straight", *flags), check=True, capture_output=True,
                   timeout=300)
    killed, ckpts = tmp_path / "killed", tmp_path / "killed" / "checkpoints"
    staging = killed / "export" / ".tmp"

    def now_in(phase: str) -> bool:  # seen from outside: the files each phase has half-written
        if phase == "export":
            return staging.exists() and any(staging.iterdir())
        if phase == "checkpoint":
            return ckpts.exists() and any(n.endswith("_temp") for n in os.listdir(ckpts))
        return False  # "random": no phase waited for
    rng, kills, hits = random.Random(0), 0, []
    phases = ["export", "checkpoint", "random"] * 2
    while kills < len(phases):
        events = killed / "tensorboard" / "train"
        before = len(os.listdir(events)) if events.exists() else 0
        proc = subprocess.Popen(_tiny_cmd(killed, *flags), stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None and not (
                events.exists() and len(os.listdir(events)) > before):
            time.sleep(0.01)  # until this process opens its event file: then it is training
        phase = phases[kills]
        # An export comes every 15 steps: within a minute even on a loaded machine.
        deadline = time.time() + (rng.uniform(0.0, 2.5) if phase == "random" else 60.0)
        while time.time() < deadline and not now_in(phase):
            time.sleep(0.002)
        hit = now_in(phase)
        if proc.poll() is not None:
            break  # it finished first
        proc.kill()
        proc.wait()
        kills += 1
        hits.append(phase if hit else "random")
        state = tf.train.get_checkpoint_state(str(ckpts))
        for path in (state.all_model_checkpoint_paths if state else []):
            assert len(_variables(path)) > 50, path  # every checkpoint left behind restores
    assert kills == len(phases) and "export" in hits, hits  # one or more halfway through an export
    print("kills:", hits)
    subprocess.run(_tiny_cmd(killed, *flags), check=True, capture_output=True, timeout=300)
    # What the kills left half-written is gone: the last run's chief removed it at start.
    assert not staging.exists() and not [n for n in os.listdir(ckpts) if n.endswith("_temp")]
    a = _variables(str(tmp_path / "straight" / "checkpoints" / "ckpt-150"))
    b = _variables(str(ckpts / "ckpt-150"))
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
