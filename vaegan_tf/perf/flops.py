"""FLOPs of one training step per image, counted from the built networks' layer shapes.

Layers counted, at 2 FLOPs per multiply-accumulate (MAC), from the kernel shape and the spatial
size the layer was built for (`get_build_config`):
    Conv2D            out_h·out_w · k_h·k_w · C_in·C_out  ("same" padding: every output pixel
                                                           is charged the whole kernel, as the
                                                           kernels compute it)
    Conv2DTranspose   in_h·in_w · k_h·k_w · C_in·C_out    (each input pixel scatters one
                                                           kernel; stride 2 leaves that count
                                                           unchanged)
    Dense             (positions) · in·out
Not counted: biases, BatchNorm, ReLU, tanh, sigmoid, the reparameterisation, the losses and the
optimizer updates. They scale with activations or parameters, not with MACs; at Table 1 they are
well under 1% of the total.

The training step's count, with F_N(b) the forward FLOPs of network N on one image of batch b:
  forward          Enc on x. Dec on each code it decodes: z ~ q(z|x) when the model has an
                   encoder, z_p when Dec(z_p) is a fake (model.fake_kinds). Dis on each batch of
                   each pass it makes (below); a batch used only for its Dis_l features is charged
                   only Dis's convolutions, since Dis_l is the last one's output.
  weight_grad      the forward FLOPs again for each trained network on the batches that feed its
                   loss: Enc on x, Dec on every code it decodes, Dis on x and its fakes in the GAN
                   pass (never for L_llike: Dis does not minimise it).
  input_grad       the forward FLOPs of the network part a cotangent crosses to reach a trained
                   network upstream: Dis on the fakes (whole), Dis_l on x̃ for L_llike, Dec on z
                   (the encoder's path); none for Enc's own input, none for x.
Dis's passes (model.judge) for a model with a discriminator:
  --dis_passes=two (authors)   GAN pass: whole Dis on x and the fakes of --gan_fakes, trained on
                               all of them. Similarity pass (L_llike on Dis_l): Dis_l on x̃ and x,
                               no weight gradient, a cotangent at x̃ only (the target Dis_l(x) is
                               a constant). With joint statistics the passes normalise over
                               different batches, so neither can reuse the other's activations:
                               Dis_l(x), and Dis_l(x̃) when x̃ is a fake, are charged twice (with
                               --dis_batch=separate too: the recipe runs both passes).
  --dis_passes=one             a single pass on x, the fakes and x̃ (when L_llike needs it) gives
                               logits and features: x̃ that is not a fake is charged Dis_l only.
  vae_disl                     a frozen Dis has no GAN pass: the similarity pass alone, either way.
As everywhere in this count, an image's activations are taken to depend on that image alone: the
cotangents that joint BatchNorm statistics carry between the batches of a pass are not charged
(e.g. through Dis_l(x) to x̃ in a joint similarity pass with --llike_stop_target off).

`train_flops_per_image` = forward + weight_grad + input_grad: issue 6's "least work" count.
At Table 1 (vaegan, 64×64, latent 128), with F_Dis_l Dis's convolutions:
  defaults (--dis_passes=two, --gan_fakes=prior): 2·F_Enc + 5·F_Dec + 5·F_Dis + 3·F_Dis_l
      = 11.84 GFLOP per image;
  --dis_passes=one --gan_fakes=both (the paper's Eq. 10 in one pass): 2·F_Enc + 5·F_Dec + 8·F_Dis
      = 11.89 GFLOP per image; --dis_passes=two --gan_fakes=both adds 3·F_Dis_l: 14.47.

That count leaves out cotangents that reverse mode must also carry *inside* a network on a batch
whose input needs none (Enc on x, Dec on z_p, Dis on x in the GAN pass): every layer above the
first must pass its cotangent down for the weight gradients below it. `interior_grad` counts them
(each such network on each such batch minus its first layer); `backprop_flops_per_image` adds them
to the issue's count: 13.88 GFLOP per image at Table 1 with --dis_passes=one --gan_fakes=both,
13.83 with the defaults: what an ideal reverse-mode step computes.
"""

from __future__ import annotations

import math

import keras

from vaegan_tf.config import Config

STAGES = ("forward", "weight_grad", "input_grad", "interior_grad")
NETWORKS = ("encoder", "decoder", "discriminator")


def layer_flops(layer: keras.layers.Layer) -> int:
    """Forward FLOPs per image of one built Conv2D, Conv2DTranspose or Dense layer (else 0)."""
    if not isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose,
                              keras.layers.Dense)):
        return 0
    input_shape = tuple(layer.get_build_config()["input_shape"])
    kernel = tuple(layer.kernel.shape)
    if isinstance(layer, keras.layers.Dense):
        positions = math.prod(input_shape[1:-1])  # 1 on a flat input
        return 2 * positions * kernel[0] * kernel[1]
    if isinstance(layer, keras.layers.Conv2DTranspose):
        pixels = input_shape[1] * input_shape[2]  # kernel is (k_h, k_w, C_out, C_in)
    else:
        output_shape = layer.compute_output_shape(input_shape)
        pixels = output_shape[1] * output_shape[2]
    return 2 * pixels * math.prod(kernel)


def network_flops(network: keras.Model) -> dict[str, int]:
    """Forward FLOPs per image of a built network: 'all' its layers, 'features' (only its
    convolutions: Dis_l is the last one's output), 'interior' (all but the layer that reads the
    network's input)."""
    layers = [l for l in _leaf_layers(network) if layer_flops(l)]
    network_input = tuple(network.get_build_config()["input_shape"])[1:]
    first = sum(layer_flops(l) for l in layers
                if tuple(l.get_build_config()["input_shape"])[1:] == network_input)
    convs = (keras.layers.Conv2D, keras.layers.Conv2DTranspose)
    total = sum(layer_flops(l) for l in layers)
    return {"all": total, "features": sum(layer_flops(l) for l in layers if isinstance(l, convs)),
            "interior": total - first}


def _leaf_layers(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    inner = getattr(layer, "layers", None)
    if not inner:
        return [layer]
    return [leaf for l in inner for leaf in _leaf_layers(l)]


def step_plan(config: Config) -> list[tuple[str, str, str, str]]:
    """(stage, network, batch, part) for every term of the count in the module docstring.

    batch: 'real' = x, 'recon' = Dec(z) / z, 'prior' = Dec(z_p) / z_p; part: a network_flops key.
    A batch Dis sees in both of --dis_passes=two's passes has a term for each.
    """
    from vaegan_tf.model.forward import fake_kinds  # the model's own rule for which fakes Dis sees

    fakes = fake_kinds(config)
    codes = (["recon"] if config.uses_encoder else []) + (["prior"] if "prior" in fakes else [])
    plan = []
    if config.uses_encoder:
        plan += [("forward", "encoder", "real", "all"), ("weight_grad", "encoder", "real", "all"),
                 ("interior_grad", "encoder", "real", "interior")]
    for code in codes:
        plan += [("forward", "decoder", code, "all"), ("weight_grad", "decoder", code, "all")]
        # Enc's loss reaches it through Dec(z); nothing upstream of z_p trains.
        plan.append(("input_grad", "decoder", code, "all") if code == "recon"
                    else ("interior_grad", "decoder", code, "interior"))
    return plan + [(stage, "discriminator", batch, part)
                   for stage, batch, part in _dis_plan(config, fakes)]


def _dis_plan(config: Config, fakes: list[str]) -> list[tuple[str, str, str]]:
    """(stage, batch, part) of Dis's terms: its GAN pass and its similarity pass (docstring)."""
    if not config.uses_discriminator:
        return []
    plan = []
    if config.trains_discriminator:
        # The GAN pass (with --dis_passes=one, the only pass): Dis trains on x and every fake;
        # cotangents at the fakes for Dec, none at x.
        plan += [("forward", "real", "all"), ("weight_grad", "real", "all"),
                 ("interior_grad", "real", "interior")]
        for fake in fakes:
            plan += [("forward", fake, "all"), ("weight_grad", fake, "all"),
                     ("input_grad", fake, "all")]
    if config.similarity == "disl":
        if config.dis_passes == "two" or not config.trains_discriminator:
            # The similarity pass: Dis_l on x̃ and x, never trains Dis; the target Dis_l(x) is a
            # constant, so only x̃ gets a cotangent (for Dec and, through it, Enc).
            plan += [("forward", "recon", "features"), ("input_grad", "recon", "features"),
                     ("forward", "real", "features")]
        elif "recon" not in fakes:
            # One pass: x and a fake x̃ are already in it; x̃ otherwise only for its features.
            plan += [("forward", "recon", "features"), ("input_grad", "recon", "features")]
    return plan


def train_flops(config: Config) -> dict[str, dict[str, int]]:
    """FLOPs per image of one training step, {stage: {network: flops}}, for the step_plan terms."""
    from vaegan_tf.model.networks import build_networks

    per_network = {name: network_flops(net) for name, net in build_networks(config).items()}
    table = {stage: {name: 0 for name in NETWORKS} for stage in STAGES}
    for stage, network, _, part in step_plan(config):
        table[stage][network] += per_network[network][part]
    return table


def train_flops_per_image(config: Config) -> int:
    """Issue 6's count: forward + weight gradients + the input gradients the tapes need."""
    table = train_flops(config)
    return sum(sum(table[stage].values()) for stage in ("forward", "weight_grad", "input_grad"))


def backprop_flops_per_image(config: Config) -> int:
    """The count above plus the interior cotangents reverse mode must also compute."""
    return sum(sum(per_stage.values()) for per_stage in train_flops(config).values())


def format_breakdown(table: dict[str, dict[str, int]]) -> str:
    """GFLOP per image by stage (rows) and network (columns)."""
    lines = [f"{'GFLOP/img':<14}" + "".join(f"{n:>15}" for n in NETWORKS) + f"{'total':>15}"]
    for stage, row in table.items():
        lines.append(f"{stage:<14}" + "".join(f"{row[n] / 1e9:>15.4f}" for n in NETWORKS)
                     + f"{sum(row.values()) / 1e9:>15.4f}")
    return "\n".join(lines)


# --- what the traced step actually executes ---

def _dims(tensor) -> list[int]:
    return [-1 if d is None else d for d in tensor.shape.as_list()]


def op_flops(op) -> int:
    """2·MACs of one convolution or matmul op of a TensorFlow graph (0 for any other op).

    Conv2DTranspose's forward is a Conv2DBackpropInput op; a Conv2D's input gradient is one too,
    and a transposed convolution's input gradient is a Conv2D: each is charged by its own shapes.
    """
    kind = op.type.replace("_MklNative", "").replace("_Mkl", "")
    if kind in ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter"):
        # The filter is input 1, except for its own gradient, which is the output.
        kh, kw, cin, cout = _dims(op.outputs[0] if kind == "Conv2DBackpropFilter" else op.inputs[1])
        # The output-channel side of the conv: its output, or the cotangent it consumes.
        b, h, w, _ = _dims(op.outputs[0] if kind == "Conv2D" else op.inputs[2])
        return 2 * b * h * w * kh * kw * cin * cout
    if kind in ("MatMul", "BatchMatMulV2"):
        a, b = _dims(op.inputs[0]), _dims(op.inputs[1])
        ta, tb = (op.get_attr("transpose_a"), op.get_attr("transpose_b")) if kind == "MatMul" else (
            op.get_attr("adj_x"), op.get_attr("adj_y"))
        m, k = (a[-1], a[-2]) if ta else (a[-2], a[-1])
        n = b[-2] if tb else b[-1]
        return 2 * math.prod(a[:-2]) * m * k * n
    return 0


def executed_flops(graph) -> int:
    """FLOPs of the convolutions and matmuls a traced tf.function graph runs: those its outputs
    and side effects depend on (the runtime prunes the rest), at the graph's static shapes.
    Bodies of tf.cond / while ops are not entered: the train step's are optimizer updates."""
    seen, stack = set(), [t.op for t in graph.outputs] + list(graph.control_outputs)
    total = 0
    while stack:
        op = stack.pop()
        if op in seen:
            continue
        seen.add(op)
        total += op_flops(op)
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    return total
