"""FLOPs of one training step per image: the least work each recipe's gradients require.

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
well under 1% of the total. A backward pass through a layer costs its forward FLOPs once for the
input gradient and once for the weight gradient.

The step is a list of passes (`passes`): a network called on one or more batches ('real' = x,
'recon' = x̃ = Dec(z) or z, 'prior' = x_p = Dec(z_p) or z_p) over a part of it ('all', or
'features': Dis up to Dis_l). A training-mode call on several batches at once shares BatchNorm
statistics between them ("coupled"). Each pass is charged
  forward        every batch, the part's FLOPs
  weight_grad    every batch whose rows reach the network's own loss, the part's FLOPs once
  and, for each linearly independent cotangent that must cross it, per batch, by what needs it:
  input_grad     'input': the gradient at the batch's input (Dec on z for Enc; Dis at a fake
                 for Dec): every layer
  interior_grad  'weights': only this network's weights: every layer but the one reading the
                 input (reverse mode must still carry the cotangent down to it)
  coupled_grad   a batch of a coupled pass that needs neither, but whose rows carry the
                 cotangent between BatchNorms, from the statistics ('coupled': the layers
                 between the part's first and last BN) or from its own output ('direct': the
                 layers after the first BN). E.g. the similarity pass on [x̃, x] with joint
                 statistics: L_llike reaches x̃ through the rows of x at conv3 too.
Independent cotangents (the algebra of the recipe; gradients.fused computes exactly these):
  Dis, GAN pass    Dis's loss (weights at every batch); under --gan_loss=saturating Dec's GAN
                   term is a multiple of it, so its input gradient at the fakes serves Dec;
                   non_saturating adds a pass of its own. With --dis_passes=one, L_llike's
                   (to Dis_l) crosses the same call: three cotangents for the paper read literally.
  Dis, similarity  L_llike's, input gradient at x̃ only (--dis_passes=two; vae_disl)
  Dec              Dec's loss (weights) and the encoder's L_llike (input at z): one pass where
                   they are parallel on every batch that depends on z (no GAN cotangent at x̃,
                   separate Dec calls: the authors' recipe), else two.
  Enc              its loss: weights.
Shared: the layers before Dis's first BatchNorm see each image alone, so --dis_passes=two's
two passes run them on x once (networks.Stem): the similarity pass is charged Dis_l on x after
conv2's BN only.
At Table 1 (64×64, latent 128): the authors' recipe (Config's defaults) 14.02 GFLOP per image,
the paper read literally (celeba_paper.flags) 20.30.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import keras

from vaegan_tf.config import Config

STAGES = ("forward", "weight_grad", "input_grad", "interior_grad", "coupled_grad")
NETWORKS = ("encoder", "decoder", "discriminator")
# What a cotangent is needed for at one batch of a pass -> (stage, piece of the part it costs).
NEEDS = {"input": ("input_grad", "total"), "weights": ("interior_grad", "interior"),
         "direct": ("coupled_grad", "above_bn"), "coupled": ("coupled_grad", "between_bn")}


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


def _interleave(a: list, b: list) -> list:
    return [layer for pair in zip(a, b) for layer in pair]


def sequence(network: keras.Model) -> tuple[list[keras.layers.Layer], int]:
    """(the network's layers in the order its call runs them, how many of them make Dis_l)."""
    from vaegan_tf.model import networks

    n = network
    if isinstance(n, networks.Encoder):
        layers = _interleave(n.convs, n.conv_bns) + [n.fc, n.fc_bn, n.mean, n.log_var]
    elif isinstance(n, networks.Decoder):
        layers = [n.fc, n.fc_bn] + _interleave(n.deconvs, n.deconv_bns) + [n.out]
    elif isinstance(n, networks.Discriminator):
        layers = [n.conv1] + _interleave(n.convs, n.conv_bns) + [n.fc, n.fc_bn, n.logit]
        return layers, layers.index(n.convs[2]) + 1  # Dis_l: the 4th conv's output, before BN
    else:
        raise TypeError(f"no layer sequence for {type(network).__name__}")
    return layers, len(layers)


def network_flops(network: keras.Model) -> dict[str, dict[str, int]]:
    """{part: {piece: forward FLOPs per image}} of a built network (see the module docstring).

    part: 'all', 'features' (up to Dis_l; the whole network for Enc and Dec). piece: 'total';
    'interior' (all but the first layer); 'above_bn' (after the part's first BatchNorm);
    'between_bn' (after its first BatchNorm and before its last).
    """
    layers, features = sequence(network)
    table = {}
    for part, seq in (("all", layers), ("features", layers[:features])):
        bns = [i for i, l in enumerate(seq) if isinstance(l, keras.layers.BatchNormalization)]
        cost = [layer_flops(l) for l in seq]
        first, last = (bns[0], bns[-1]) if bns else (len(seq), len(seq))
        table[part] = {"total": sum(cost), "interior": sum(cost[1:]),
                       "above_bn": sum(cost[first + 1:]), "between_bn": sum(cost[first + 1:last])}
    return table


class Pass(NamedTuple):
    """One call of a network in the step, and the cotangents that cross it backwards."""
    network: str
    part: str  # 'all' or 'features'
    batches: tuple  # of 'real', 'recon', 'prior'
    coupled: bool  # one training-mode call on several batches: shared BN statistics
    trained: tuple  # batches whose rows reach the network's own loss
    cotangents: tuple  # ((part, {batch: need}), ...), need a key of NEEDS
    stem_from_before: tuple = ()  # batches whose layers before the first BN an earlier pass ran


def passes(config: Config) -> list[Pass]:
    """The recipe's passes and independent cotangents (module docstring; model.judge's calls)."""
    from vaegan_tf.model.forward import fake_kinds  # the model's own rule for which fakes Dis sees

    fakes, gan = fake_kinds(config), config.trains_discriminator
    one_pass = gan and config.dis_passes == "one"
    disl = config.similarity == "disl"
    joint_dis = config.dis_batch == "joint"
    out = []
    if config.uses_encoder:
        out.append(Pass("encoder", "all", ("real",), False, ("real",),
                        (("all", {"real": "weights"}),)))
    gan_batches = ["real"] + fakes if gan else []
    if one_pass and disl and "recon" not in fakes and joint_dis:
        gan_batches.insert(1, "recon")  # x̃ shares the single call's statistics: every logit
    generated = [b for b in gan_batches if b != "real"]  # where Dec gets a GAN cotangent

    codes = tuple((["recon"] if config.uses_encoder else []) + (["prior"] if "prior" in fakes else []))
    joint_dec = config.dec_batch == "joint" and len(codes) > 1
    weights = {c: "weights" for c in codes}
    if not config.uses_encoder:
        dec = (("all", weights),)
    elif "recon" not in generated and not joint_dec:
        dec = (("all", {**weights, "recon": "input"}),)  # Dec's and Enc's cotangents parallel
    else:
        at_prior = {"prior": "direct"} if one_pass and disl and joint_dis and joint_dec else {}
        dec = (("all", weights), ("all", {"recon": "input", **at_prior}))
    out.append(Pass("decoder", "all", codes, joint_dec, codes, dec))

    if gan:
        saturating = config.gan_loss == "saturating"
        cotangents = [("all", {"real": "weights",
                               **{b: "input" if saturating else "weights" for b in generated}})]
        if not saturating:
            cotangents.append(("all", {b: "input" for b in generated}))
        if one_pass and disl and "recon" in gan_batches:
            llike = {b: "input" for b in generated if joint_dis or b == "recon"}
            cotangents.append(("features", {**llike, **_target(config)}))
        out.append(Pass("discriminator", "all", tuple(gan_batches),
                        joint_dis and len(gan_batches) > 1, tuple(gan_batches), tuple(cotangents)))
    if disl and not one_pass:  # the similarity pass: Dis_l on [x̃, x], never training Dis
        out.append(Pass("discriminator", "features", ("recon", "real"), joint_dis and gan, (),
                        (("features", {"recon": "input", **_target(config)}),),
                        ("real",) if gan else ()))  # x's stem is the GAN pass's (model.judge)
    elif disl and "recon" not in gan_batches:  # one pass, separate calls: x̃'s own, to Dis_l
        out.append(Pass("discriminator", "features", ("recon",), False, (),
                        (("features", {"recon": "input"}),)))
    return out


def _target(config: Config) -> dict[str, str]:
    # Without the stop-gradient, L_llike's cotangent also enters at Dis_l(x).
    return {} if config.llike_stop_target else {"real": "direct"}


def step_plan(config: Config) -> list[tuple[str, str, str, str, str]]:
    """(stage, network, batch, part, piece) for every term of the count."""
    plan = []
    for p in passes(config):
        plan += [("forward", p.network, b, p.part,
                  "above_bn" if b in p.stem_from_before else "total") for b in p.batches]
        plan += [("weight_grad", p.network, b, p.part, "total") for b in p.trained]
        for part, needs in p.cotangents:
            for b in p.batches:
                need = needs.get(b, "coupled" if p.coupled else None)
                if need and (p.coupled or need != "direct"):
                    plan.append((NEEDS[need][0], p.network, b, part, NEEDS[need][1]))
    return plan


def train_flops(config: Config) -> dict[str, dict[str, int]]:
    """FLOPs per image of one training step, {stage: {network: flops}}, for the step_plan terms."""
    from vaegan_tf.model.networks import build_networks

    per_network = {name: network_flops(net) for name, net in build_networks(config).items()}
    table = {stage: {name: 0 for name in NETWORKS} for stage in STAGES}
    for stage, network, _, part, piece in step_plan(config):
        table[stage][network] += per_network[network][part][piece]
    return table


def least_work_flops_per_image(config: Config) -> int:
    """The least work of the configured recipe's step: every stage of train_flops."""
    return sum(sum(row.values()) for row in train_flops(config).values())


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
