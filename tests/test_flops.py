"""FLOP counts against counts worked out by hand, layer by layer, from Table 1's structure."""

import pytest
from conftest import tiny_config

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
    that reads each network's input.
    """
    s, e, d, w, fc, latent = (c.image_size, c.enc_width, c.dec_width, c.dis_width, c.fc_width,
                              c.latent_dim)
    top = (s // 8) ** 2
    enc = [conv(s // 2, 3, e), conv(s // 4, e, 2 * e), conv(s // 8, 2 * e, 4 * e),
           dense(top * 4 * e, fc), dense(fc, latent), dense(fc, latent)]
    dec = [dense(latent, top * 8 * d), conv_t(s // 8, 8 * d, 8 * d), conv_t(s // 4, 8 * d, 4 * d),
           conv_t(s // 2, 4 * d, d), conv(s, d, 3)]
    dis_l = [conv(s, 3, w), conv(s // 2, w, 4 * w), conv(s // 4, 4 * w, 8 * w),
             conv(s // 8, 8 * w, 8 * w)]
    dis = dis_l + [dense(top * 8 * w, fc // 4), dense(fc // 4, 1)]
    return {"E": sum(enc), "D": sum(dec), "S": sum(dis), "Sf": sum(dis_l),
            "E1": enc[0], "D1": dec[0], "S1": dis[0]}


@pytest.mark.slow  # Table 1's full-size networks at 64x64
def test_table1_vaegan_is_11_9_gflop_per_image():
    # Table 1: 64x64, latent 128, vaegan; both fakes (Eq. 10) in one Dis pass on [x, x~, x_p].
    config = Config(gan_fakes="both", dis_passes="one")
    h = hand_count(config)
    # Forward: Enc on x, Dec on z and z_p, Dis on x, x~, x_p. Weight gradients: the same. Input
    # gradients: Dis on x~ and x_p, Dec on z.
    expected = {
        "forward": {"encoder": h["E"], "decoder": 2 * h["D"], "discriminator": 3 * h["S"]},
        "weight_grad": {"encoder": h["E"], "decoder": 2 * h["D"], "discriminator": 3 * h["S"]},
        "input_grad": {"encoder": 0, "decoder": h["D"], "discriminator": 2 * h["S"]},
        # Inside Enc on x, Dec on z_p and Dis on x, above their first layers.
        "interior_grad": {"encoder": h["E"] - h["E1"], "decoder": h["D"] - h["D1"],
                          "discriminator": h["S"] - h["S1"]},
    }
    assert flops.train_flops(config) == expected
    total = flops.train_flops_per_image(config)
    assert total == 2 * h["E"] + 5 * h["D"] + 8 * h["S"]
    assert total / 1e9 == pytest.approx(11.9, abs=0.05)
    interior = sum(expected["interior_grad"].values())
    assert flops.backprop_flops_per_image(config) == total + interior


def table1_dis_layers():
    """Dis at Table 1 (64x64, width 32, FC 512), layer by layer: Dis_l is the 4th conv's output."""
    dis_l = [conv(64, 3, 32),  # conv1 5x5 stride 1: 64x64x3 -> 64x64x32
             conv(32, 32, 128),  # conv2 stride 2: -> 32x32x128
             conv(16, 128, 256),  # conv3 stride 2: -> 16x16x256
             conv(8, 256, 256)]  # conv4 stride 2: -> 8x8x256 = Dis_l
    head = [dense(8 * 8 * 256, 512), dense(512, 1)]  # fc, logit
    return dis_l, head


@pytest.mark.slow  # Table 1's full-size networks at 64x64
def test_table1_default_two_passes_prior_fakes_is_11_84_gflop_per_image():
    # The defaults (authors' code): a GAN pass of Dis on [x, x_p] and a similarity pass of Dis up
    # to Dis_l on [x~, x], whose target Dis_l(x) is a constant.
    config = Config()
    assert (config.model, config.dis_passes, config.gan_fakes) == ("vaegan", "two", "prior")
    h = hand_count(config)
    dis_l, head = table1_dis_layers()
    assert sum(dis_l) == h["Sf"] == 858_521_600 and sum(dis_l + head) == h["S"] == 875_299_840
    S, Sf = sum(dis_l + head), sum(dis_l)
    expected = {
        # Enc on x; Dec on z and z_p; GAN pass: Dis on x and x_p; similarity pass: Dis_l on x~, x.
        "forward": {"encoder": h["E"], "decoder": 2 * h["D"], "discriminator": 2 * S + 2 * Sf},
        # Dis trains on its GAN pass only: x and x_p.
        "weight_grad": {"encoder": h["E"], "decoder": 2 * h["D"], "discriminator": 2 * S},
        # Dec on z (Enc's path); Dis at x_p (whole, GAN) and Dis_l at x~ (L_llike); none at x,
        # neither in the GAN pass nor through the constant target Dis_l(x).
        "input_grad": {"encoder": 0, "decoder": h["D"], "discriminator": S + Sf},
        # Inside Enc on x, Dec on z_p and Dis on x in the GAN pass, above their first layers.
        "interior_grad": {"encoder": h["E"] - h["E1"], "decoder": h["D"] - h["D1"],
                          "discriminator": S - dis_l[0]},
    }
    assert flops.train_flops(config) == expected
    total = flops.train_flops_per_image(config)
    assert total == 2 * h["E"] + 5 * h["D"] + 5 * S + 3 * Sf == 11_841_049_600
    assert total / 1e9 == pytest.approx(11.84, abs=0.005)
    # One pass on [x, x~, x_p] would charge Dis_l on x~ only: one Dis_l forward less.
    assert total - flops.train_flops_per_image(config.replace(dis_passes="one")) == Sf


def test_table1_two_passes_both_fakes():
    config = Config(gan_fakes="both", dis_passes="two")
    h = hand_count(config)
    dis_l, head = table1_dis_layers()
    S, Sf = sum(dis_l + head), sum(dis_l)
    expected = {
        # GAN pass: Dis on x, x~ and x_p; similarity pass: Dis_l on x~ and x again.
        "forward": {"encoder": h["E"], "decoder": 2 * h["D"], "discriminator": 3 * S + 2 * Sf},
        "weight_grad": {"encoder": h["E"], "decoder": 2 * h["D"], "discriminator": 3 * S},
        # GAN pass: Dis at x~ and x_p; similarity pass: Dis_l at x~ (its own forward, its own
        # cotangent).
        "input_grad": {"encoder": 0, "decoder": h["D"], "discriminator": 2 * S + Sf},
        "interior_grad": {"encoder": h["E"] - h["E1"], "decoder": h["D"] - h["D1"],
                          "discriminator": S - dis_l[0]},
    }
    assert flops.train_flops(config) == expected
    total = flops.train_flops_per_image(config)
    assert total == 2 * h["E"] + 5 * h["D"] + 8 * S + 3 * Sf
    assert total / 1e9 == pytest.approx(14.47, abs=0.005)
    # Against Table 1's one-pass count (11.89): Dis_l forward on x~ and x, Dis_l's input gradient.
    assert total - flops.train_flops_per_image(config.replace(dis_passes="one")) == 3 * Sf


@pytest.mark.parametrize("model,fakes,extra_sf", [
    ("vaegan", "prior", 1),  # Dis_l(x) once more; x~ was Dis_l-only in the single pass already
    ("vaegan", "both", 3),  # Dis_l on x and x~ once more, and Dis_l's input gradient at x~
    ("vaegan", "recon", 3),
    ("vaegan_dis0", "both", 0),  # pixel similarity: no similarity pass
    ("gan", "prior", 0),
    ("vae", "both", 0),
    ("vae_disl", "both", 0),  # frozen Dis: the similarity pass is its only pass either way
])
def test_two_dis_passes_cost_more_than_one_where_there_is_a_similarity_pass(
        tmp_path, model, fakes, extra_sf):
    extra = {"disl_from": str(tmp_path)} if model == "vae_disl" else {}
    one = tiny_config(model=model, gan_fakes=fakes, dis_passes="one", **extra)
    two = one.replace(dis_passes="two")
    difference = flops.train_flops_per_image(two) - flops.train_flops_per_image(one)
    assert difference == extra_sf * hand_count(one)["Sf"]
    if extra_sf:
        assert flops.train_flops_per_image(two) > flops.train_flops_per_image(one)
        assert flops.backprop_flops_per_image(two) > flops.backprop_flops_per_image(one)


def test_network_counts_match_the_layer_list():
    config = Config(image_size=32, enc_width=16, dec_width=8, dis_width=8, fc_width=64,
                    latent_dim=16)
    from vaegan_tf.model.networks import build_networks
    nets = build_networks(config)
    h = hand_count(config)
    assert flops.network_flops(nets["encoder"]) == {
        "all": h["E"], "features": conv(16, 3, 16) + conv(8, 16, 32) + conv(4, 32, 64),
        "interior": h["E"] - h["E1"]}
    assert flops.network_flops(nets["decoder"])["all"] == h["D"]
    assert flops.network_flops(nets["decoder"])["interior"] == h["D"] - h["D1"]
    assert flops.network_flops(nets["discriminator"]) == {
        "all": h["S"], "features": h["Sf"], "interior": h["S"] - h["S1"]}


# Each model's step in units of the hand counts: (forward + weight + input gradients), worked out
# from which batches each network sees (README, "The paper's five models"; flops.py, Dis's passes).
MODEL_TERMS = [
    ("vaegan", "both", "one", {"E": 2, "D": 5, "S": 8}),
    ("vaegan", "prior", "one", {"E": 2, "D": 5, "S": 5, "Sf": 2}),  # x~ only through Dis_l
    ("vaegan", "recon", "one", {"E": 2, "D": 3, "S": 5}),
    # Two passes: the similarity pass adds Dis_l on x~ and x and Dis_l's input gradient at x~.
    ("vaegan", "both", "two", {"E": 2, "D": 5, "S": 8, "Sf": 3}),
    ("vaegan", "prior", "two", {"E": 2, "D": 5, "S": 5, "Sf": 3}),
    ("vaegan", "recon", "two", {"E": 2, "D": 3, "S": 5, "Sf": 3}),
    ("vae", "both", "two", {"E": 2, "D": 3}),
    ("vae_disl", "both", "two", {"E": 2, "D": 3, "Sf": 3}),  # frozen Dis: Dis_l of x and x~ only
    ("vae_disl", "both", "one", {"E": 2, "D": 3, "Sf": 3}),
    ("vaegan_dis0", "both", "two", {"E": 2, "D": 5, "S": 8}),
    ("vaegan_dis0", "prior", "two", {"E": 2, "D": 5, "S": 5}),  # pixel similarity: no Dis on x~
    ("vaegan_dis0", "prior", "one", {"E": 2, "D": 5, "S": 5}),
    ("gan", "both", "two", {"D": 2, "S": 5}),
]


@pytest.mark.parametrize("model,fakes,passes,terms", MODEL_TERMS)
def test_each_model_counts_the_batches_it_uses(tmp_path, model, fakes, passes, terms):
    extra = {"disl_from": str(tmp_path)} if model == "vae_disl" else {}
    config = tiny_config(model=model, gan_fakes=fakes, dis_passes=passes, **extra)
    h = hand_count(config)
    assert flops.train_flops_per_image(config) == sum(n * h[k] for k, n in terms.items())
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


@pytest.mark.slow  # profiles the executed steps
def test_the_step_executes_more_than_the_least_work_and_fused_saves_some():
    import tensorflow as tf

    from vaegan_tf.model.vaegan import VAEGAN
    from vaegan_tf.perf.flops import executed_flops

    def executed(**kw):
        config = tiny_config(gan_loss="saturating", **kw)
        model = VAEGAN(config)
        model.compile()
        spec = (tf.TensorSpec((8, 32, 32, 3)), tf.TensorSpec((8, 3)))
        graph = tf.function(model.train_step).get_concrete_function(spec).graph
        return executed_flops(graph) / 8, config

    fused, config = executed(step="fused")
    three_tape, _ = executed(step="three_tape")
    assert fused < three_tape  # the saturating form's GAN cotangent comes from Dis's own pass
    assert fused > flops.backprop_flops_per_image(config) > flops.train_flops_per_image(config)
