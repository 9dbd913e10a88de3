"""FLOP counts against counts worked out by hand, layer by layer, from Table 1's structure."""

import pytest
from conftest import PAPER_LITERAL, tiny_config

from vaegan_tf.config import Config
from vaegan_tf.perf import flops


def conv(out_side, cin, cout, k=5):  # 2 FLOPs per MAC; every output pixel sees the whole kernel
    return 2 * out_side ** 2 * k * k * cin * cout


def conv_t(in_side, cin, cout, k=5):  # each input pixel scatters one kernel
    return 2 * in_side ** 2 * k * k * cin * cout


def dense(n_in, n_out):
    return 2 * n_in * n_out


def hand_count(c: Config) -> dict[str, int]:
    """Per-network forward FLOPs per image from the paper's layer list at the config's widths.

    E, D, S: whole networks; Sf: Dis up to Dis_l (its four convolutions); E1, D1, S1: the layer
    that reads each network's input; Dab, Sab, Sfab: the layers after the first BatchNorm;
    Sbb, Sfbb: those between the first and the last BatchNorm (Dec's equal Dab: its last BN
    feeds the output conv, so Dbb = Dab - out conv).
    """
    s, e, d, w, fc, latent = (c.image_size, c.enc_width, c.dec_width, c.dis_width, c.fc_width,
                              c.latent_dim)
    top = (s // 8) ** 2
    enc = [conv(s // 2, 3, e), conv(s // 4, e, 2 * e), conv(s // 8, 2 * e, 4 * e),
           dense(top * 4 * e, fc), dense(fc, latent), dense(fc, latent)]
    dec = [dense(latent, top * 8 * d), conv_t(s // 8, 8 * d, 8 * d), conv_t(s // 4, 8 * d, 4 * d),
           conv_t(s // 2, 4 * d, d), conv(s, d, 3)]
    # Dis: conv1 ReLU, conv2 BN, conv3 BN, conv4 [Dis_l] BN, fc BN, logit.
    dis_l = [conv(s, 3, w), conv(s // 2, w, 4 * w), conv(s // 4, 4 * w, 8 * w),
             conv(s // 8, 8 * w, 8 * w)]
    dis = dis_l + [dense(top * 8 * w, fc // 4), dense(fc // 4, 1)]
    return {"E": sum(enc), "D": sum(dec), "S": sum(dis), "Sf": sum(dis_l),
            "E1": enc[0], "D1": dec[0], "S1": dis[0],
            "Dab": sum(dec[1:]), "Dbb": sum(dec[1:4]),
            "Sab": sum(dis[2:]), "Sbb": sum(dis[2:5]),  # after conv2's BN; before fc's
            "Sfab": sum(dis_l[2:]), "Sfbb": dis_l[2]}  # after conv2's BN; before conv3's: conv3


def test_network_pieces_match_the_layer_list():
    config = Config(image_size=32, enc_width=16, dec_width=8, dis_width=8, fc_width=64,
                    latent_dim=16)
    from vaegan_tf.model.networks import build_networks
    nets = build_networks(config)
    h = hand_count(config)
    enc_convs = conv(16, 3, 16) + conv(8, 16, 32) + conv(4, 32, 64)
    assert flops.network_flops(nets["encoder"])["all"] == {
        "total": h["E"], "interior": h["E"] - h["E1"],
        # Enc's first BN follows conv1, its last follows fc: then the two heads.
        "above_bn": h["E"] - h["E1"], "between_bn": h["E"] - h["E1"] - 2 * dense(64, 16)}
    assert enc_convs < h["E"]
    assert flops.network_flops(nets["decoder"])["all"] == {
        "total": h["D"], "interior": h["D"] - h["D1"], "above_bn": h["Dab"],
        "between_bn": h["Dbb"]}
    assert flops.network_flops(nets["discriminator"]) == {
        "all": {"total": h["S"], "interior": h["S"] - h["S1"], "above_bn": h["Sab"],
                "between_bn": h["Sbb"]},
        "features": {"total": h["Sf"], "interior": h["Sf"] - h["S1"], "above_bn": h["Sfab"],
                     "between_bn": h["Sfbb"]}}
    # Every layer with FLOPs is in the sequence once: the parts sum to the network's layers.
    for net in nets.values():
        layers = [l for l in net._flatten_layers(include_self=False) if flops.layer_flops(l)]
        assert flops.network_flops(net)["all"]["total"] == sum(map(flops.layer_flops, layers))


def table1_dis_layers():
    """Dis at Table 1 (64x64, width 32, FC 512), layer by layer: Dis_l is the 4th conv's output."""
    dis_l = [conv(64, 3, 32),  # conv1 5x5 stride 1: 64x64x3 -> 64x64x32
             conv(32, 32, 128),  # conv2 stride 2: -> 32x32x128
             conv(16, 128, 256),  # conv3 stride 2: -> 16x16x256
             conv(8, 256, 256)]  # conv4 stride 2: -> 8x8x256 = Dis_l
    head = [dense(8 * 8 * 256, 512), dense(512, 1)]  # fc, logit
    return dis_l, head


@pytest.mark.slow  # Table 1's full-size networks at 64x64
def test_table1_authors_recipe_is_14_02_gflop_per_image():
    # The defaults (authors' code): a GAN pass of Dis on [x, x_p] and a similarity pass of Dis up
    # to Dis_l on [x~, x] (joint statistics), whose target Dis_l(x) is a constant.
    config = Config()
    assert (config.model, config.dis_passes, config.gan_fakes, config.gan_loss) == (
        "vaegan", "two", "prior", "saturating")
    h = hand_count(config)
    dis_l, head = table1_dis_layers()
    assert sum(dis_l) == h["Sf"] == 858_521_600 and sum(dis_l + head) == h["S"] == 875_299_840
    S, Sf = sum(dis_l + head), sum(dis_l)
    expected = {
        # Enc on x; Dec on z and z_p; GAN pass: Dis on x and x_p; similarity pass: Dis_l on x~,
        # and on x from conv3 on (conv1 and conv2 before the first BN are the GAN pass's).
        "forward": {"encoder": h["E"], "decoder": 2 * h["D"],
                    "discriminator": 2 * S + 2 * Sf - dis_l[0] - dis_l[1]},
        # Dis trains on its GAN pass only: x and x_p.
        "weight_grad": {"encoder": h["E"], "decoder": 2 * h["D"], "discriminator": 2 * S},
        # One pass through Dec on z serves Dec's weights and Enc (L_llike's cotangent, times
        # gamma for Dec); Dis's own pass gives Dec's GAN cotangent at x_p; Dis_l at x~.
        "input_grad": {"encoder": 0, "decoder": h["D"], "discriminator": S + Sf},
        # Down to the first layer's weights: Enc on x, Dec on z_p, Dis on x (GAN pass).
        "interior_grad": {"encoder": h["E"] - h["E1"], "decoder": h["D"] - h["D1"],
                          "discriminator": S - dis_l[0]},
        # L_llike reaches x~ through the statistics of x's rows too: conv3 between the BNs.
        "coupled_grad": {"encoder": 0, "decoder": 0, "discriminator": dis_l[2]},
    }
    assert flops.train_flops(config) == expected
    total = flops.least_work_flops_per_image(config)
    assert total == (3 * h["E"] - h["E1"] + 6 * h["D"] - h["D1"] + 6 * S - 2 * dis_l[0]
                     - dis_l[1] + 3 * Sf + dis_l[2]) == 14_023_137_280


@pytest.mark.slow  # Table 1's full-size networks at 64x64
def test_table1_paper_literal_needs_three_cotangents_through_dis_and_two_through_dec():
    config = Config(**PAPER_LITERAL)
    h = hand_count(config)
    dis_l, head = table1_dis_layers()
    S, S1, Sf = sum(dis_l + head), dis_l[0], sum(dis_l)
    expected = {
        # One joint Dis call on [x, x~, x_p]: every logit depends on all three.
        "forward": {"encoder": h["E"], "decoder": 2 * h["D"], "discriminator": 3 * S},
        "weight_grad": {"encoder": h["E"], "decoder": 2 * h["D"], "discriminator": 3 * S},
        # Dis at x~ and x_p: -log D(x_p) (Dec), and L_llike to Dis_l (Enc); Dec at z (Enc).
        "input_grad": {"encoder": 0, "decoder": h["D"], "discriminator": 2 * S + 2 * Sf},
        # Dis's own loss down to conv1's weights at all three; Dec's loss at z and z_p.
        "interior_grad": {"encoder": h["E"] - h["E1"], "decoder": 2 * (h["D"] - h["D1"]),
                          "discriminator": 3 * (S - S1)},
        # x's rows carry -log D(x_p)'s cotangent between Dis's BNs and L_llike's from Dis_l(x)
        # (no stop-gradient) down to conv2's BN; x_p's carry L_llike's (joint Dec) to fc_bn.
        "coupled_grad": {"encoder": 0, "decoder": h["Dab"],
                         "discriminator": h["Sbb"] + h["Sfab"]},
    }
    assert flops.train_flops(config) == expected
    assert flops.least_work_flops_per_image(config) / 1e9 == pytest.approx(20.30, abs=0.005)


# Each model's step in units of the hand counts (flops.py's docstring; worked out from which
# batches each network sees and which cotangents cross it).
ENC = {"E": 3, "E1": -1}
# The similarity pass runs Dis_l on x from conv3 on: its stem (conv1, conv2) is the GAN pass's.
AUTHORS_DIS = {"S": 6, "S1": -1, "Sf": 2, "Sfab": 1, "Sfbb": 1}
MODEL_TERMS = [
    # Two passes. Dec on z: one backward pass unless x~ is a fake (then Dec's and Enc's differ).
    ("vaegan", "prior", "two", {}, {**ENC, "D": 6, "D1": -1, **AUTHORS_DIS}),
    ("vaegan", "both", "two", {},
     {**ENC, "D": 7, "D1": -2, "S": 9, "S1": -1, "Sf": 2, "Sfab": 1, "Sfbb": 1}),
    ("vaegan", "recon", "two", {},
     {**ENC, "D": 4, "D1": -1, "S": 6, "S1": -1, "Sf": 2, "Sfab": 1, "Sfbb": 1}),
    ("vaegan", "prior", "two", {"llike_stop_target": False},  # x's rows from Dis_l(x) down
     {**ENC, "D": 6, "D1": -1, "S": 6, "S1": -1, "Sf": 2, "Sfab": 2}),
    ("vaegan", "prior", "two", {"dis_batch": "separate"},  # no coupling through statistics
     {**ENC, "D": 6, "D1": -1, "S": 6, "S1": -1, "Sf": 2, "Sfab": 1}),
    ("vaegan", "prior", "two", {"gan_loss": "non_saturating"},  # Dec's GAN cotangent: own pass
     {**ENC, "D": 6, "D1": -1, "S": 7, "S1": -2, "Sbb": 1, "Sf": 2, "Sfab": 1, "Sfbb": 1}),
    ("vaegan", "prior", "two", {"dec_batch": "joint"},  # z_p's rows couple: two Dec passes
     {**ENC, "D": 7, "D1": -2, "Dbb": 1, **AUTHORS_DIS}),
    # One joint pass: x~ is in every logit's statistics, a fake in all but name.
    ("vaegan", "prior", "one", {}, {**ENC, "D": 7, "D1": -2, "S": 9, "S1": -1, "Sf": 2, "Sfbb": 1}),
    ("vaegan", "both", "one", {}, {**ENC, "D": 7, "D1": -2, "S": 9, "S1": -1, "Sf": 2, "Sfbb": 1}),
    ("vaegan", "recon", "one", {}, {**ENC, "D": 4, "D1": -1, "S": 6, "S1": -1, "Sf": 1, "Sfbb": 1}),
    ("vaegan", "prior", "one", {"dis_batch": "separate"},  # x~ its own call, up to Dis_l
     {**ENC, "D": 6, "D1": -1, "S": 6, "S1": -1, "Sf": 2}),
    ("vaegan", "both", "one", PAPER_LITERAL,
     {**ENC, "D": 7, "D1": -2, "Dab": 1, "S": 11, "S1": -3, "Sbb": 1, "Sf": 2, "Sfab": 1}),
    ("vae", "both", "two", {}, {**ENC, "D": 3}),
    ("vae_disl", "both", "two", {}, {**ENC, "D": 3, "Sf": 3}),  # frozen Dis: inference BN
    ("vae_disl", "both", "one", {}, {**ENC, "D": 3, "Sf": 3}),
    ("vaegan_dis0", "both", "two", {}, {**ENC, "D": 7, "D1": -2, "S": 9, "S1": -1}),
    ("vaegan_dis0", "prior", "two", {}, {**ENC, "D": 6, "D1": -1, "S": 6, "S1": -1}),
    ("vaegan_dis0", "prior", "one", {}, {**ENC, "D": 6, "D1": -1, "S": 6, "S1": -1}),
    ("gan", "both", "two", {}, {"D": 3, "D1": -1, "S": 6, "S1": -1}),
]


@pytest.mark.parametrize("model,fakes,passes,switches,terms", MODEL_TERMS)
def test_each_recipe_counts_its_passes_and_cotangents(tmp_path, model, fakes, passes, switches,
                                                      terms):
    extra = {"disl_from": str(tmp_path)} if model == "vae_disl" else {}
    config = tiny_config(**{**switches, "model": model, "gan_fakes": fakes, "dis_passes": passes},
                         **extra)
    h = hand_count(config)
    assert flops.least_work_flops_per_image(config) == sum(n * h[k] for k, n in terms.items())
    table = flops.train_flops(config)
    if not config.uses_encoder:
        assert all(table[stage]["encoder"] == 0 for stage in flops.STAGES)
    if not config.uses_discriminator:
        assert all(table[stage]["discriminator"] == 0 for stage in flops.STAGES)
    if not config.trains_discriminator:
        assert table["weight_grad"]["discriminator"] == 0


def test_executed_flops_of_a_traced_graph_against_hand_count():
    import tensorflow as tf

    from vaegan_tf.perf.flops import executed_flops

    w = tf.Variable(tf.ones((5, 5, 3, 4)))
    m = tf.Variable(tf.ones((4 * 8 * 8, 6)))

    def f(x, with_loss):
        with tf.GradientTape() as tape:
            h = tf.nn.conv2d(x, w, 2, "SAME")  # [2, 8, 8, 4]
            y = tf.matmul(tf.reshape(h, [2, -1]), m)  # [2, 6]
            loss = tf.reduce_sum(y)
        grads = tape.gradient(loss, [w])  # needs dH (matmul) and dW (conv filter), not dX
        return (loss, grads) if with_loss else grads

    def traced(with_loss):
        return tf.function(lambda x: f(x, with_loss)).get_concrete_function(
            tf.TensorSpec((2, 16, 16, 3))).graph

    graph = traced(with_loss=True)
    conv = 2 * 2 * 8 * 8 * 5 * 5 * 3 * 4
    matmul = 2 * 2 * 256 * 6
    # forward conv + matmul; backward: dH = dY·Mᵀ (a matmul), dW of the conv; dM and dX pruned.
    assert executed_flops(graph) == conv + matmul + matmul + conv
    # Without the loss among the outputs the forward pass is dead code, and is not counted.
    assert executed_flops(traced(with_loss=False)) == matmul + conv


def _executed_per_image(config) -> float:
    import tensorflow as tf

    from vaegan_tf.model.vaegan import VAEGAN

    model = VAEGAN(config)
    model.compile()
    spec = tf.TensorSpec((config.batch_size, config.image_size, config.image_size, 3))
    graph = tf.function(model.train_step).get_concrete_function(spec).graph
    return flops.executed_flops(graph) / config.batch_size


def test_the_authors_recipe_step_executes_its_least_work():
    config = tiny_config()  # the authors' recipe
    least = flops.least_work_flops_per_image(config)
    assert _executed_per_image(config) == least
    assert _executed_per_image(config.replace(gradients="three_tape")) > 1.2 * least


@pytest.mark.slow  # traces a step for every case of tests/test_gradients.py
def test_no_step_executes_less_than_the_least_work(tmp_path):
    from test_gradients import CASES
    for case in CASES:
        values = dict(case.values[0])
        if values["model"] == "vae_disl":
            values["disl_from"] = str(tmp_path)
        config = tiny_config(**values)
        least = flops.least_work_flops_per_image(config)
        for step in ("fused", "three_tape"):
            assert _executed_per_image(config.replace(gradients=step)) >= least, (case.id, step)
