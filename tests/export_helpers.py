"""Helpers the export and serving tests share (their exported run is conftest.py's `trained`)."""

import base64
import http.server
import json
import os

import numpy as np
import tensorflow as tf
from google.protobuf import text_format

TF_NOISE = ("I0000", "W0000", "E0000", "WARNING: All log messages before absl")
S, LATENT = 32, 8  # tiny_config's image_size and latent_dim


def _faces() -> list[bytes]:
    """A JPEG at CelebA's aligned size and a PNG of another size."""
    rng = np.random.default_rng(1)
    big = rng.integers(0, 256, (218, 178, 3), dtype=np.uint8)
    small = rng.integers(0, 256, (90, 70, 3), dtype=np.uint8)
    return [tf.io.encode_jpeg(big).numpy(), tf.io.encode_png(small).numpy()]


def _models_config(workdir):
    from tensorflow_serving.config import model_server_config_pb2
    with open(os.path.join(workdir, "export", "models.config")) as f:
        return text_format.Parse(f.read(), model_server_config_pb2.ModelServerConfig())


def _one_line_error(result, *needles):
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    lines = [l for l in result.stderr.splitlines() if l.strip() and not l.startswith(TF_NOISE)]
    assert len(lines) == 1, result.stderr[-2000:]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


class _FakeServing(http.server.BaseHTTPRequestHandler):
    """Answers :predict like TF Serving's REST API, with the exported SavedModels."""

    models: dict = {}

    def do_POST(self):
        name = self.path.split("/v1/models/")[1].split(":")[0].split("/")[0]
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        outputs = {k: v.numpy().tolist() for k, v in _serve_rest(self.models[name], body).items()}
        for key in [k for k in outputs if k.endswith("_bytes")]:
            outputs[key] = [{"b64": base64.b64encode(v).decode()} for v in outputs[key]]
        if "instances" in body:
            rows = [dict(zip(outputs, values)) for values in zip(*outputs.values())]
            answer = {"predictions": rows if len(outputs) > 1 else next(iter(outputs.values()))}
        else:
            answer = {"outputs": outputs if len(outputs) > 1 else next(iter(outputs.values()))}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def _serve_rest(loaded, body):
    """What TF Serving does with a :predict body: JSON values -> tensors -> the signature."""
    def unwrap(value):
        if isinstance(value, dict):
            return base64.b64decode(value["b64"])
        return [unwrap(v) for v in value] if isinstance(value, list) else value

    body = json.loads(json.dumps(body))  # only what survives JSON reaches the server
    if "instances" in body:
        feeds = {n: [unwrap(row[n]) for row in body["instances"]] for n in body["instances"][0]}
    else:
        feeds = {n: unwrap(v) for n, v in body["inputs"].items()}
    signature = loaded.signatures[body.get("signature_name", "serving_default")]
    specs = signature.structured_input_signature[1]
    return signature(**{n: tf.constant(v, specs[n].dtype) for n, v in feeds.items()})
