"""Conditional exports (Sec 4.2): every signature also takes the attribute vectors y."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_config
from export_helpers import LATENT, S, _faces, _serve_rest

from export import client
from export.saved_model import export_model
from vaegan_tf.data.preprocess import preprocess
from vaegan_tf.model.vaegan import VAEGAN

A = 5  # attributes of the conditional export tests


@pytest.fixture(scope="module")
def conditional(tmp_path_factory):
    """A conditional vaegan (untrained weights suffice) exported as version 1: (model, loaded)."""
    workdir = str(tmp_path_factory.mktemp("conditional"))
    model = VAEGAN(tiny_config(conditional=True, num_attributes=A))
    export_model(model, workdir, 1)
    return model, {name: tf.saved_model.load(os.path.join(workdir, "export", name, "1"))
                   for name in ("encoder", "decoder")}


def _input_names(loaded, signature):
    return sorted(loaded.signatures[signature].structured_input_signature[1])


def test_conditional_signatures_take_attributes(conditional):
    model, loaded = conditional
    encoder, decoder = loaded["encoder"], loaded["decoder"]
    assert _input_names(encoder, "serving_default") == ["attributes", "images"]
    assert _input_names(encoder, "encode_jpeg") == ["attributes", "image_bytes"]
    assert _input_names(decoder, "serving_default") == _input_names(decoder, "decode_png") == [
        "attributes", "z"]
    spec = decoder.signatures["serving_default"].structured_input_signature[1]["attributes"]
    assert spec.shape.as_list() == [None, A] and spec.dtype == tf.float32


def test_conditional_signatures_equal_the_keras_models(conditional):
    model, loaded = conditional
    rng = np.random.default_rng(5)
    images = rng.uniform(-1, 1, (2, S, S, 3)).astype(np.float32)
    y = rng.integers(0, 2, (2, A)).astype(np.float32)
    out = loaded["encoder"].signatures["serving_default"](images=tf.constant(images),
                                                         attributes=tf.constant(y))
    mean, log_var = model.encoder(images, attributes=y, training=False)
    np.testing.assert_allclose(out["mean"], mean, atol=1e-5)
    np.testing.assert_allclose(out["log_var"], log_var, atol=1e-5)
    # y reaches the served encoder: other attributes, other codes.
    other = loaded["encoder"].signatures["serving_default"](images=tf.constant(images),
                                                           attributes=tf.constant(1.0 - y))
    assert np.abs(other["mean"].numpy() - out["mean"].numpy()).max() > 1e-4

    faces = _faces()
    preprocessed = tf.stack([preprocess(tf.io.decode_image(b, channels=3, expand_animations=False),
                                        model.config.crop, S) for b in faces])
    out = loaded["encoder"].signatures["encode_jpeg"](image_bytes=tf.constant(faces),
                                                     attributes=tf.constant(y))
    np.testing.assert_allclose(out["mean"], model.encoder(preprocessed, attributes=y)[0], atol=1e-5)

    z = rng.standard_normal((2, LATENT)).astype(np.float32)
    got = loaded["decoder"].signatures["serving_default"](z=tf.constant(z), attributes=tf.constant(y))
    np.testing.assert_allclose(got["images"], model.decoder(z, attributes=y), atol=1e-5)
    pngs = loaded["decoder"].signatures["decode_png"](z=tf.constant(z), attributes=tf.constant(y))
    expected = np.round((got["images"].numpy() + 1.0) * 127.5).astype(np.uint8)
    np.testing.assert_array_equal(
        np.stack([tf.io.decode_png(p).numpy() for p in pngs["png_bytes"].numpy()]), expected)

    # The client's REST bodies (both forms) and gRPC requests carry y.
    for form in client.FORMS:
        body = client.decode_body(z, form=form, attributes=y)
        np.testing.assert_array_equal(_serve_rest(loaded["decoder"], body)["images"], got["images"])
    request = client.predict_request("decoder", {"z": z.tolist(), "attributes": y.tolist()})
    feeds = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
    assert feeds["attributes"].dtype == tf.float32
    np.testing.assert_array_equal(
        loaded["decoder"].signatures["serving_default"](**feeds)["images"], got["images"])


def test_conditional_signatures_refuse_mismatched_attributes(conditional):
    _, loaded = conditional
    decode = loaded["decoder"].signatures["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="z and attributes need the same batch size"):
        decode(z=tf.zeros([2, LATENT]), attributes=tf.zeros([3, A]))
    for wrong in ([2, A + 1], [2, A - 1]):
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=rf"attributes must be \[batch, {A}\]: one value per attribute"):
            decode(z=tf.zeros([2, LATENT]), attributes=tf.zeros(wrong))
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=rf"Shape of tensor attributes \[2,1,{A}\] is not compatible"):
        decode(z=tf.zeros([2, LATENT]), attributes=tf.zeros([2, 1, A]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="attributes is an empty batch"):
        loaded["encoder"].signatures["encode_jpeg"](image_bytes=tf.constant(_faces()),
                                                    attributes=tf.zeros([0, A]))


@pytest.mark.parametrize("value", [2.0, -0.5, float("nan"), float("inf")])
def test_conditional_signatures_refuse_attribute_values_outside_0_1(conditional, value):
    """The synthetic data's attributes are 0/1 labels: a vector outside [0, 1] (or not finite) is
    one clear error naming the first bad entry, from every signature that takes y."""
    _, loaded = conditional
    y = np.zeros((2, A), np.float32)
    y[1, 2] = value
    calls = {"decoder": {"z": tf.zeros([2, LATENT])},
             "encoder": {"images": tf.zeros([2, S, S, 3])}}
    for name, inputs in calls.items():
        for signature in loaded[name].signatures.values():
            with pytest.raises(tf.errors.InvalidArgumentError,
                               match=r"attributes must hold values in \[0, 1\].*at \[row, column\]"
                                     r"\s*\[\[1 2\]\]") as error:
                signature(**inputs, attributes=tf.constant(y)) if "image_bytes" not in \
                    signature.structured_input_signature[1] else signature(
                        image_bytes=tf.constant(_faces()), attributes=tf.constant(y))
            assert "Traceback" not in str(error.value.message)
    # Blends of 0 and 1 (what --mode=sample interpolates) are valid.
    loaded["decoder"].signatures["serving_default"](z=tf.zeros([2, LATENT]),
                                                    attributes=tf.fill([2, A], 0.25))


def test_client_command_line_sends_attributes(capsys):
    assert client.main(["--dry_run", "--form=inputs", "decode", "--z=0.5,1", "--z=2,3",
                        "--attributes=1,0,1"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["inputs"] == {"z": [[0.5, 1.0], [2.0, 3.0]],
                              "attributes": [[1.0, 0.0, 1.0], [1.0, 0.0, 1.0]]}
    assert client.main(["--dry_run", "decode", "--z=0.5,1", "--z=2,3", "--attributes=1,0",
                        "--attributes=0,1"]) == 0
    rows = json.loads(capsys.readouterr().out)["instances"]
    assert [r["attributes"] for r in rows] == [[1.0, 0.0], [0.0, 1.0]]
    assert client.main(["--dry_run", "decode", "--z=1", "--attributes=1,0",
                        "--attributes=0,1"]) == 2
    assert "once per example (1); got 2" in capsys.readouterr().err
