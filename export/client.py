"""Requests for the served encoder and decoder: REST `:predict` bodies and gRPC PredictRequests.

Command line (REST through urllib; TensorFlow is not imported):
    python -m export.client --host=localhost encode face.jpg [other.png ...]
    python -m export.client decode --z=0.1,-0.4,... [--z=...] [--out=decoded.png]
    python -m export.client decode --random=4 --latent_dim=128 --out=samples.png
    python -m export.client decode --random=4 --latent_dim=128 --attributes=1,0,... (conditional)
`--dry_run` prints the JSON body instead of sending it. `encode` calls the encoder's `encode_jpeg`
signature and prints the server's JSON answer (mean and log_var per image); `decode` calls the
decoder's `decode_png` signature and writes one PNG per z. A conditional run's models also take
the attribute vector y: `--attributes=v1,v2,...` once for every image or code, or once per each.

Binary inputs travel in JSON as {"b64": "<base64>"}, which TF Serving decodes for string tensors;
it base64-encodes a string output only when its name ends in `_bytes` (hence `png_bytes`).
gRPC requests need the protos of `tensorflow-serving-api`, installed with
`pip install --no-deps tensorflow-serving-api==2.21.0` (its dependencies would replace the pinned
TensorFlow); they are imported only when a PredictRequest is built.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import sys
import urllib.error
import urllib.request
from typing import Any, Mapping, Sequence

# The client needs only UserError: vaegan_tf defers its TensorFlow import (vaegan_tf/__init__.py).
os.environ["VAEGAN_TF_LIGHT_IMPORT"] = "1"
from vaegan_tf.errors import UserError  # noqa: E402

del os.environ["VAEGAN_TF_LIGHT_IMPORT"]

REST_PORT = 8501  # tensorflow_model_server --rest_api_port
GRPC_PORT = 8500  # tensorflow_model_server --port
FORMS = ("instances", "inputs")  # TF Serving's row and columnar request formats
# The signatures' float32 inputs (attributes: conditional runs only); image_bytes is a string.
FLOAT_INPUTS = ("images", "z", "attributes")


class ClientError(UserError):
    """A request cannot be built or sent; the message says why."""


# --- REST ---

def _json_value(value: Any) -> Any:
    """numpy arrays, lists and bytes as JSON values; bytes become {"b64": ...}."""
    if isinstance(value, (bytes, bytearray)):
        return {"b64": base64.b64encode(bytes(value)).decode("ascii")}
    if hasattr(value, "tolist"):  # numpy arrays and scalars, without importing numpy
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return value


def rest_body(inputs: Mapping[str, Any], signature_name: str = "serving_default",
              form: str = "instances") -> dict[str, Any]:
    """The JSON body of a `:predict` request feeding each named input a batch of values.

    form="instances" (row form) gives one {name: value} object per example; form="inputs"
    (columnar form) gives {name: batch} once.
    """
    columns = {name: _json_value(value) for name, value in inputs.items()}
    if form == "inputs":
        return {"signature_name": signature_name, "inputs": columns}
    if form != "instances":
        raise ClientError(f"form must be one of {', '.join(FORMS)}; got {form!r}")
    sizes = {name: len(column) for name, column in columns.items()}
    if len(set(sizes.values())) != 1:
        raise ClientError(f"every input needs the same batch size; got {sizes}")
    count = next(iter(sizes.values()))
    return {"signature_name": signature_name,
            "instances": [{name: column[i] for name, column in columns.items()}
                          for i in range(count)]}


def _inputs(name: str, value: Any, attributes: Any = None) -> dict[str, Any]:
    """{name: value}, plus the attribute vectors y [B, A] a conditional run's signatures take."""
    return {name: value} if attributes is None else {name: value, "attributes": attributes}


def encode_jpeg_body(image_bytes: Sequence[bytes], form: str = "instances",
                     attributes: Any = None) -> dict[str, Any]:
    """Encoder, `encode_jpeg`: encoded JPEG/PNG files of aligned faces (and, for a conditional
    run, their attribute vectors) -> mean, log_var."""
    return rest_body(_inputs("image_bytes", list(image_bytes), attributes), "encode_jpeg", form)


def encode_body(images: Any, form: str = "instances", attributes: Any = None) -> dict[str, Any]:
    """Encoder, `serving_default`: float32 [B, S, S, 3] images in [-1, 1] (and attributes for a
    conditional run) -> mean, log_var."""
    return rest_body(_inputs("images", images, attributes), "serving_default", form)


def decode_body(z: Any, png: bool = False, form: str = "instances",
                attributes: Any = None) -> dict[str, Any]:
    """Decoder: float32 [B, latent] codes (and attributes [B, A] for a conditional run) ->
    images (`serving_default`) or png_bytes (`decode_png`)."""
    return rest_body(_inputs("z", z, attributes), "decode_png" if png else "serving_default",
                     form)


def rest_output(response: Mapping[str, Any], name: str) -> list[Any]:
    """One named output, per example, from a `:predict` answer in either form."""
    if "error" in response:
        raise ClientError(f"server error: {response['error']}")
    if "predictions" in response:  # row form; a single output is not wrapped in an object
        return [row[name] if isinstance(row, dict) and name in row else row
                for row in response["predictions"]]
    outputs = response["outputs"]
    return outputs[name] if isinstance(outputs, dict) and name in outputs else outputs


def predict_rest(url: str, body: Mapping[str, Any], timeout: float = 60.0) -> dict[str, Any]:
    """POSTs a body to a `:predict` URL; TF Serving's {"error": ...} answers raise ClientError."""
    request = urllib.request.Request(url, data=json.dumps(body).encode("utf-8"),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as e:
        try:
            message = json.loads(e.read()).get("error", e.reason)
        except (ValueError, AttributeError):
            message = e.reason
        raise ClientError(f"{url}: HTTP {e.code}: {message}") from None
    except (urllib.error.URLError, OSError) as e:
        raise ClientError(f"cannot reach {url}: {getattr(e, 'reason', e)}") from None


def predict_url(host: str, port: int, model: str, version: int | None = None) -> str:
    where = f"/versions/{version}" if version is not None else ""
    return f"http://{host}:{port}/v1/models/{model}{where}:predict"


# --- gRPC ---

def _predict_pb2():
    try:
        from tensorflow_serving.apis import predict_pb2
    except ImportError as e:
        raise ClientError(f"gRPC requests need tensorflow-serving-api ({e}); install it with "
                          "`pip install --no-deps tensorflow-serving-api==2.21.0`") from None
    return predict_pb2


def predict_request(model_name: str, inputs: Mapping[str, Any],
                    signature_name: str = "serving_default", version: int | None = None):
    """A tensorflow_serving PredictRequest feeding each named input (floats sent as float32).

    Send it with `prediction_service_pb2_grpc.PredictionServiceStub(
    grpc.insecure_channel("host:8500")).Predict(request, timeout)`.
    """
    predict_pb2 = _predict_pb2()
    import numpy as np
    import tensorflow as tf

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = version
    for name, value in inputs.items():
        # The signatures take float32, which make_tensor_proto would not guess for Python floats.
        array = np.asarray(value, np.float32) if name in FLOAT_INPUTS else np.asarray(value, object)
        request.inputs[name].CopyFrom(tf.make_tensor_proto(array))
    return request


# --- command line ---

def _parse_z(text: str, flag: str = "--z") -> list[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise ClientError(f"{flag}: expected comma-separated numbers, got {text[:40]!r}") from None


def _attributes(args: argparse.Namespace, count: int) -> list[list[float]] | None:
    """--attributes for `count` examples: one vector for all of them, or one each."""
    if not args.attributes:
        return None
    vectors = [_parse_z(text, "--attributes") for text in args.attributes]
    if len({len(v) for v in vectors}) != 1:
        raise ClientError("every --attributes needs the same length; got "
                          f"{[len(v) for v in vectors]}")
    if len(vectors) == 1:
        return vectors * count
    if len(vectors) != count:
        raise ClientError(f"give --attributes once (for all) or once per example ({count}); "
                          f"got {len(vectors)}")
    return vectors


def _codes(args: argparse.Namespace) -> list[list[float]]:
    if args.z and args.random:
        raise ClientError("give either --z or --random, not both")
    if args.random:
        if not args.latent_dim:
            raise ClientError("--random needs --latent_dim (the run's --latent_dim)")
        rng = random.Random(args.seed)
        return [[rng.gauss(0.0, 1.0) for _ in range(args.latent_dim)] for _ in range(args.random)]
    if not args.z:
        raise ClientError("decode needs --z=v1,v2,... (repeatable) or --random=N --latent_dim=D")
    codes = [_parse_z(text) for text in args.z]
    if len({len(c) for c in codes}) != 1:
        raise ClientError(f"every --z needs the same length; got {[len(c) for c in codes]}")
    return codes


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ClientError(f"cannot read {path}: {e.strerror}") from None


def _out_paths(out: str, count: int) -> list[str]:
    if count == 1:
        return [out]
    stem, ext = os.path.splitext(out)
    return [f"{stem}-{i}{ext or '.png'}" for i in range(count)]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m export.client",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="localhost", help="TF Serving host")
    parser.add_argument("--port", type=int, default=REST_PORT, help="TF Serving REST port")
    parser.add_argument("--model", default=None, help="model name (default: encoder / decoder)")
    parser.add_argument("--version", type=int, default=None, help="model version (default: latest)")
    parser.add_argument("--form", choices=FORMS, default="instances", help="REST request format")
    parser.add_argument("--dry_run", action="store_true",
                        help="print the request body and send nothing")
    commands = parser.add_subparsers(dest="command", required=True)
    encode = commands.add_parser("encode", help="faces (JPEG/PNG files) -> mean and log_var")
    encode.add_argument("images", nargs="+", help="aligned face images, any size")
    decode = commands.add_parser("decode", help="latent codes -> PNG files")
    decode.add_argument("--z", action="append", help="one comma-separated code; repeat for more")
    decode.add_argument("--random", type=int, default=0, help="decode N codes drawn from N(0, I)")
    decode.add_argument("--latent_dim", type=int, default=0, help="code size, for --random")
    decode.add_argument("--seed", type=int, default=0, help="seed for --random")
    decode.add_argument("--out", default="decoded.png", help="PNG path (-<i> added for several)")
    for sub in (encode, decode):
        sub.add_argument("--attributes", action="append",
                         help="conditional runs: comma-separated attribute vector y; give it once "
                              "for every example or repeat it once per example")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "encode":
            body = encode_jpeg_body([_read(p) for p in args.images], args.form,
                                    _attributes(args, len(args.images)))
        else:
            codes = _codes(args)
            body = decode_body(codes, png=True, form=args.form,
                               attributes=_attributes(args, len(codes)))
        if args.dry_run:
            print(json.dumps(body, indent=1))
            return 0
        model = args.model or ("encoder" if args.command == "encode" else "decoder")
        response = predict_rest(predict_url(args.host, args.port, model, args.version), body)
        if args.command == "encode":
            print(json.dumps(response, indent=1))
            return 0
        pngs = rest_output(response, "png_bytes")
        for path, png in zip(_out_paths(args.out, len(pngs)), pngs):
            with open(path, "wb") as f:
                f.write(base64.b64decode(png["b64"]))
            print(path)
        return 0
    except (ClientError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
