"""The exported SavedModels as TF Serving sees them: signatures, their values, REST and gRPC
requests, bad inputs, and the client."""

import base64
import http.server
import io
import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from export_helpers import (
    LATENT,
    S,
    _faces,
    _FakeServing,
    _serve_rest,
)

from export import client
from vaegan_tf.data.preprocess import preprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_signatures_equal_the_keras_models_in_inference_mode(trained, served):
    _, model = trained
    encoder, decoder = served["encoder"], served["decoder"]
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (3, S, S, 3)).astype(np.float32)
    out = encoder.signatures["serving_default"](images=tf.constant(images))
    mean, log_var = model.encoder(images, training=False)
    np.testing.assert_allclose(out["mean"], mean, atol=1e-5)
    np.testing.assert_allclose(out["log_var"], log_var, atol=1e-5)

    faces = _faces()
    preprocessed = tf.stack([preprocess(tf.io.decode_image(b, channels=3, expand_animations=False),
                                        model.config.crop, S) for b in faces])
    out = encoder.signatures["encode_jpeg"](image_bytes=tf.constant(faces))
    mean, log_var = model.encoder(preprocessed, training=False)
    np.testing.assert_allclose(out["mean"], mean, atol=1e-5)
    np.testing.assert_allclose(out["log_var"], log_var, atol=1e-5)

    z = rng.standard_normal((3, LATENT)).astype(np.float32)
    out = decoder.signatures["serving_default"](z=tf.constant(z))
    np.testing.assert_allclose(out["images"], model.decoder(z, training=False), atol=1e-5)
    assert out["images"].dtype == tf.float32 and out["images"].shape == (3, S, S, 3)
    pngs = decoder.signatures["decode_png"](z=tf.constant(z))["png_bytes"].numpy()
    expected = np.round((out["images"].numpy() + 1.0) * 127.5).astype(np.uint8)
    np.testing.assert_array_equal(np.stack([tf.io.decode_png(p).numpy() for p in pngs]), expected)


# Run by a fresh `python` that imports neither vaegan_tf nor export: serving needs neither.
PLAIN_TF = """
import sys
import numpy as np
import tensorflow as tf
from PIL import Image
encoder, decoder = tf.saved_model.load(sys.argv[1]), tf.saved_model.load(sys.argv[2])
images = np.zeros((2, {s}, {s}, 3), np.float32)
face = tf.io.encode_jpeg(tf.fill([218, 178, 3], tf.constant(128, tf.uint8)))
outputs = [
    encoder.signatures["serving_default"](images=tf.constant(images)),
    encoder.signatures["encode_jpeg"](image_bytes=tf.stack([face, face])),
    decoder.signatures["serving_default"](z=tf.zeros([2, {latent}])),
    decoder.signatures["decode_png"](z=tf.zeros([2, {latent}])),
]
print(json.dumps({{k: list(v.shape) for o in outputs for k, v in o.items()}}))
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("vaegan_tf", "export"))))
"""


@pytest.mark.slow  # TensorFlow in a subprocess
def test_plain_tensorflow_loads_and_runs_every_signature(trained, tmp_path):
    workdir, _ = trained
    script = "import json\n" + PLAIN_TF.format(s=S, latent=LATENT)
    result = subprocess.run(
        [sys.executable, "-c", script, os.path.join(workdir, "export", "encoder", "4"),
         os.path.join(workdir, "export", "decoder", "4")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": "", "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-3000:]
    shapes, modules = (json.loads(line) for line in result.stdout.strip().splitlines()[-2:])
    assert shapes == {"mean": [2, LATENT], "log_var": [2, LATENT], "images": [2, S, S, 3],
                      "png_bytes": [2]}
    # `import tensorflow` imports Keras itself in TF 2.21, so only our own packages are checked.
    assert modules == []


@pytest.mark.slow  # saved_model_cli in a subprocess
def test_saved_model_cli_lists_the_signatures(trained):
    workdir, _ = trained
    expected = {
        "encoder": ["signature_def['serving_default']", "signature_def['encode_jpeg']",
                    "inputs['images']", "inputs['image_bytes']", "outputs['mean']",
                    "outputs['log_var']", f"shape: (-1, {S}, {S}, 3)", "shape: (-1)",
                    f"shape: (-1, {LATENT})", "dtype: DT_STRING"],
        "decoder": ["signature_def['serving_default']", "signature_def['decode_png']",
                    "inputs['z']", "outputs['images']", "outputs['png_bytes']",
                    f"shape: (-1, {LATENT})", f"shape: (-1, {S}, {S}, 3)", "dtype: DT_STRING"],
    }
    for name, needles in expected.items():
        result = subprocess.run(
            [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "show", "--dir",
             os.path.join(workdir, "export", name, "4"), "--all"],
            capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-3000:]
        for needle in needles:
            assert needle in result.stdout, (name, needle, result.stdout[-3000:])


def test_grpc_requests_are_answered_like_direct_calls(served):
    encoder, decoder = served["encoder"], served["decoder"]
    images = np.random.default_rng(2).uniform(-1, 1, (2, S, S, 3)).astype(np.float32)
    z = np.random.default_rng(3).standard_normal((2, LATENT)).tolist()  # Python floats
    cases = [
        (encoder, "encoder", "serving_default", {"images": images}),
        (encoder, "encoder", "encode_jpeg", {"image_bytes": _faces()}),
        (decoder, "decoder", "serving_default", {"z": z}),
        (decoder, "decoder", "decode_png", {"z": z}),
    ]
    for loaded, name, signature, inputs in cases:
        request = client.predict_request(name, inputs, signature, version=4)
        assert request.model_spec.name == name and request.model_spec.version.value == 4
        feeds = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
        got = loaded.signatures[request.model_spec.signature_name](**feeds)
        direct = loaded.signatures[signature](
            **{k: tf.constant(v, tf.float32 if k in client.FLOAT_INPUTS else tf.string)
               for k, v in inputs.items()})
        for key in direct:
            np.testing.assert_array_equal(got[key].numpy(), direct[key].numpy())






def test_rest_bodies_round_trip_through_json(served):
    encoder, decoder = served["encoder"], served["decoder"]
    faces = _faces()
    z = np.random.default_rng(4).standard_normal((2, LATENT)).astype(np.float32)
    direct_enc = encoder.signatures["encode_jpeg"](image_bytes=tf.constant(faces))
    direct_dec = decoder.signatures["serving_default"](z=tf.constant(z))
    for form in client.FORMS:
        body = client.encode_jpeg_body(faces, form)
        assert body["signature_name"] == "encode_jpeg"
        got = _serve_rest(encoder, body)
        np.testing.assert_array_equal(got["mean"], direct_enc["mean"])
        got = _serve_rest(decoder, client.decode_body(z, form=form))
        np.testing.assert_array_equal(got["images"], direct_dec["images"])
    with pytest.raises(client.ClientError, match="same batch size"):
        client.rest_body({"a": [1, 2], "b": [1]})


def test_wrong_shape_or_dtype_is_refused_by_the_signature(served):
    encode = served["encoder"].signatures["serving_default"]
    decode = served["decoder"].signatures["serving_default"]
    refused = pytest.raises(tf.errors.InvalidArgumentError,
                            match=rf"Shape of tensor images \[1,16,16,3\] is not compatible "
                                  rf"with expected shape \[\?,{S},{S},3\]")
    with refused:
        encode(images=tf.zeros([1, 16, 16, 3]))
    # A wrong rank used to abort the whole process inside oneDNN's convolution.
    with pytest.raises(tf.errors.InvalidArgumentError, match="is not compatible"):
        encode(images=tf.zeros([1, S, S]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected to be a float tensor"):
        encode(images=tf.zeros([1, S, S, 3], tf.float64))
    with pytest.raises(tf.errors.InvalidArgumentError, match=rf"tensor z \[2,{LATENT + 1}\]"):
        decode(z=tf.zeros([2, LATENT + 1]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected to be a string tensor"):
        served["encoder"].signatures["encode_jpeg"](image_bytes=tf.zeros([2]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="z is an empty batch"):
        served["decoder"].signatures["decode_png"](z=tf.zeros([0, LATENT]))
    # The module's own functions check their input signature before running anything.
    with pytest.raises((TypeError, ValueError)):
        served["encoder"].encode(tf.zeros([1, 16, 16, 3]))


def test_undecodable_image_bytes_give_a_clear_error(served):
    encode_jpeg = served["encoder"].signatures["encode_jpeg"]
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"image_bytes\[1\] is not a decodable picture \(JPEG, PNG"):
        encode_jpeg(image_bytes=tf.constant([_faces()[0], b"<html>not a face</html>"]))
    for broken in (_faces()[0][:200], b"GIF89a not a face"):  # a truncated JPEG, a fake GIF
        with pytest.raises(tf.errors.InvalidArgumentError):
            encode_jpeg(image_bytes=tf.constant([broken]))


def test_encode_jpeg_takes_every_format_training_reads(served):
    face = Image.open(io.BytesIO(_faces()[0])).convert("RGB")
    encoded = []
    for fmt, save in (("PNG", {}), ("WEBP", {"lossless": True}), ("BMP", {}), ("GIF", {})):
        out = io.BytesIO()
        (face.quantize(256) if fmt == "GIF" else face).save(out, fmt, **save)
        encoded.append(out.getvalue())
    mean = served["encoder"].signatures["encode_jpeg"](image_bytes=tf.constant(encoded))["mean"]
    # PNG, WebP and BMP hold the same pixels: the same code; GIF's 256 colours one close to it.
    np.testing.assert_allclose(mean[1], mean[0], atol=1e-5)
    np.testing.assert_allclose(mean[2], mean[0], atol=1e-5)
    assert np.abs(mean[3] - mean[0]).max() < 0.5 * np.abs(mean[0]).max()


def test_client_command_line(served, tmp_path, capsys):
    face = tmp_path / "face.jpg"
    face.write_bytes(_faces()[0])
    assert client.main(["--dry_run", "encode", str(face)]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["signature_name"] == "encode_jpeg"
    assert base64.b64decode(body["instances"][0]["image_bytes"]["b64"]) == face.read_bytes()

    _FakeServing.models = served
    server = http.server.HTTPServer(("127.0.0.1", 0), _FakeServing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = str(server.server_address[1])
        assert client.main([f"--port={port}", "encode", str(face)]) == 0
        answer = json.loads(capsys.readouterr().out)
        assert len(answer["predictions"][0]["mean"]) == LATENT
        out = str(tmp_path / "decoded.png")
        z = ",".join(["0.5"] * LATENT)
        assert client.main([f"--port={port}", "--form=inputs", "decode", f"--z={z}", f"--z={z}",
                            f"--out={out}"]) == 0
        for path in (tmp_path / "decoded-0.png", tmp_path / "decoded-1.png"):
            assert tf.io.decode_png(path.read_bytes()).shape == (S, S, 3)
    finally:
        server.shutdown()

    assert client.main(["decode", "--z=1,x"]) == 2
    assert "--z" in capsys.readouterr().err
    assert client.main(["--port=1", "decode", "--random=1", "--latent_dim=4"]) == 2
    assert "cannot reach" in capsys.readouterr().err


def test_unconditional_signatures_take_no_attributes(served):
    def names(loaded, signature):
        return sorted(loaded.signatures[signature].structured_input_signature[1])

    assert names(served["encoder"], "serving_default") == ["images"]
    assert names(served["encoder"], "encode_jpeg") == ["image_bytes"]
    assert names(served["decoder"], "serving_default") == ["z"]
    assert names(served["decoder"], "decode_png") == ["z"]
