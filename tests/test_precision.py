"""Mixed precision: the same model trains in bfloat16 compute with float32 weights and losses."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_config

from vaegan_tf.model.vaegan import VAEGAN

LOSSES = ("enc_loss", "dis_loss", "prior", "llike", "gan_dec")
GAMMA = 0.05


def _train(precision, batches):
    keras.utils.set_random_seed(0)
    model = VAEGAN(tiny_config(precision=precision, gamma=GAMMA))
    model.compile()
    initial = {n: [v.numpy() for v in model.networks[n].trainable_variables]
               for n in model.trained_networks}
    step = tf.function(model.train_step)
    history = [{k: float(v) for k, v in step(b).items()} for b in batches]
    return model, history, initial


@pytest.mark.slow  # trains in two precisions
def test_bf16_training_stays_finite_and_close_to_float32():
    rng = np.random.default_rng(0)
    batches = [(tf.constant(rng.uniform(-1, 1, (8, 32, 32, 3)), tf.float32), tf.zeros((8, 3)))
               for _ in range(4)]
    fp32, ref, start = _train("float32", batches)
    bf16, low, start16 = _train("mixed_bfloat16", batches)
    # Same initial weights (float32 variables from the same seed); compute in bfloat16.
    assert bf16.encoder.layers[0].compute_dtype == "bfloat16"
    assert all(v.dtype == "float32" for v in bf16.trainable_variables)
    for step, (r, l) in enumerate(zip(ref, low)):
        assert l["nonfinite"] == 0.0
        for name in LOSSES:
            assert np.isfinite(l[name]), (step, name)
            # bfloat16 keeps 8 bits of mantissa: a few percent after a few RMSProp steps.
            np.testing.assert_allclose(l[name], r[name], rtol=0.1, err_msg=f"step {step} {name}")
        # dec_loss = gan_dec + γ·llike: the saturating gan_dec is negative, so the sum cancels
        # (to −0.06 from parts of ±1.2 here); each part to 10% is the sum to 10% of the parts.
        assert np.isfinite(l["dec_loss"]), (step, "dec_loss")
        parts = abs(r["gan_dec"]) + GAMMA * abs(r["llike"])
        np.testing.assert_allclose(l["dec_loss"], r["dec_loss"], rtol=0, atol=0.1 * parts,
                                   err_msg=f"step {step} dec_loss")
    # The updates were applied in both, and moved the same weights the same way, roughly.
    moved = [np.abs(a.numpy() - b.numpy()).max() for a, b in
             zip(fp32.decoder.trainable_variables, bf16.decoder.trainable_variables)]
    assert max(moved) < 0.05
    # ... and bf16 did update: every trainable variable of every trained network moved from its
    # (shared) initial value by more than rounding, and by at least half of what float32 moved it.
    assert set(start16) == {"encoder", "decoder", "discriminator"}
    floor = 0.1 * bf16.config.learning_rate  # >300 float32 ulps at |w| <= 1; RMSProp moves ~lr/step
    for net, initial in start16.items():
        assert len(initial) == len(start[net]) > 0
        for w0, w32, v32, v16 in zip(initial, start[net], fp32.networks[net].trainable_variables,
                                     bf16.networks[net].trainable_variables, strict=True):
            np.testing.assert_array_equal(w0, w32, err_msg=f"{v16.path} initial")
            d16, d32 = np.abs(v16.numpy() - w0).max(), np.abs(v32.numpy() - w0).max()
            assert d16 > floor and d16 > 0.5 * d32, f"{v16.path} not updated in bf16: {d16}, {d32}"


def test_float16_wraps_each_optimizer_in_its_own_loss_scale():
    model = VAEGAN(tiny_config(precision="mixed_float16"))
    model.compile()
    assert all(isinstance(o, keras.optimizers.LossScaleOptimizer) for o in model.optimizers.values())
    assert len({id(o) for o in model.optimizers.values()}) == 3
    scales = model.loss_scales()
    assert all(float(s) == float(o.dynamic_scale) for s, o in
               zip(scales.values(), model.optimizers.values()))


@pytest.mark.parametrize("native,expected", [(True, "mixed_bfloat16"), (False, "float32")])
def test_auto_precision_is_bfloat16_only_where_the_device_has_it(monkeypatch, native, expected):
    from vaegan_tf import config as config_lib
    from vaegan_tf import devices
    monkeypatch.setattr(devices, "bf16_is_native", lambda: native)
    # float32 stays the default until the README's comparison is measured in bfloat16 too
    # (docs/performance.md); auto is recorded as such in config.json.
    assert config_lib.Config().precision == "float32"
    auto = tiny_config(precision="auto")
    assert auto.compute_precision == expected
    assert tiny_config(precision="float32").compute_precision == "float32"  # explicit: as given
    model = VAEGAN(auto)
    assert model.decoder.compute_dtype == {"mixed_bfloat16": "bfloat16"}.get(expected, "float32")
    assert all(v.dtype == "float32" for v in model.decoder.weights)
    assert keras.mixed_precision.global_policy().name == "float32"  # the policy was restored
