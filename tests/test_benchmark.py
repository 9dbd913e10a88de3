import json

import keras
import pytest
from conftest import tiny_config

from vaegan_tf.errors import ConfigError
from vaegan_tf.perf import benchmark, flops, timing

STEP_KEYS = ("train_img_per_s", "step_s", "step_s_min", "gflop_per_img", "achieved_gflops",
             "peak_gflops", "utilization", "peak_memory_mb", "executed_gflop_per_img",
             "executed_over_least", "kernel_utilization")
PIPELINE_KEYS = ("input_img_per_s_jpeg", "input_img_per_s_cache", "input_cache_build_s",
                 "train_img_per_s_pipeline", "train_img_per_s_in_memory",
                 "train_pipeline_vs_in_memory", "input_fraction_of_step")


@pytest.mark.slow  # times every step variant
def test_benchmark_writes_every_key_and_keeps_others(tmp_path):
    workdir = tmp_path / "bench"
    workdir.mkdir()
    (workdir / "benchmark.json").write_text(json.dumps({"from_an_earlier_run": 1.0}))
    config = tiny_config(data_dir=str(tmp_path / "data"))
    results = benchmark.benchmark_mode(config, str(workdir), steps=2, warmup=1, peak_size=128)
    saved = json.loads((workdir / "benchmark.json").read_text())
    for key in STEP_KEYS + PIPELINE_KEYS:
        assert saved[key] == pytest.approx(results[key]) and saved[key] > 0, key
    assert saved["from_an_earlier_run"] == 1.0
    assert (saved["precision"], saved["batch_size"], saved["gradients"], saved["jit_compile"]) == (
        config.precision, config.batch_size, config.gradients, config.jit_compile)
    # The derived keys are what they claim to be.
    assert saved["train_img_per_s"] == pytest.approx(config.batch_size / saved["step_s"])
    assert saved["gflop_per_img"] == pytest.approx(
        flops.least_work_flops_per_image(config) / 1e9)
    assert saved["achieved_gflops"] == pytest.approx(
        saved["gflop_per_img"] * saved["train_img_per_s"])
    assert saved["utilization"] == pytest.approx(saved["achieved_gflops"] / saved["peak_gflops"])
    # The authors' recipe's fused step runs exactly its least work (tests/test_flops.py).
    assert saved["executed_over_least"] == pytest.approx(1.0)
    assert saved["executed_over_least"] == pytest.approx(
        saved["executed_gflop_per_img"] / saved["gflop_per_img"])
    assert saved["kernel_utilization"] == pytest.approx(
        saved["utilization"] * saved["executed_gflop_per_img"] / saved["gflop_per_img"])
    assert saved["input_fraction_of_step"] == pytest.approx(
        saved["train_img_per_s"] / saved["input_img_per_s_cache"])
    assert abs(saved["train_pipeline_vs_in_memory"]
               - saved["train_img_per_s_pipeline"] / saved["train_img_per_s_in_memory"]) < 1e-9


@pytest.mark.slow  # times a training step
def test_time_train_step_reports_the_config_it_ran():
    # Two configs in one process, as a comparison of steps or precisions does it.
    for config in (tiny_config(gradients="three_tape"),
                   tiny_config(model="gan", precision="mixed_bfloat16", batch_size=4)):
        result = timing.time_train_step(config, steps=2, warmup=1, peak_size=128)
        assert (result["model"], result["gradients"], result["precision"], result["batch_size"]) == (
            config.model, config.gradients, config.precision, config.batch_size)
        assert result["gflop_per_img"] == pytest.approx(
            flops.least_work_flops_per_image(config) / 1e9)
        assert result["step_s_min"] <= result["step_s"]
        assert result["nonfinite_fraction"] == 0.0
    assert keras.mixed_precision.global_policy().name == "float32"  # the policy was restored


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_peak_matmul_runs_in_each_compute_dtype(dtype):
    assert timing.peak_matmul_gflops(dtype, size=64, repeats=2, chain=2) > 0


def test_random_batches_look_like_the_dataset():
    config = tiny_config(num_attributes=11)
    (images, attributes), = timing.random_batches(config, 1)
    assert images.shape == (config.batch_size, config.image_size, config.image_size, 3)
    assert attributes.shape == (config.batch_size, 11)
    assert -1 <= float(images.numpy().min()) and float(images.numpy().max()) <= 1
    assert set(attributes.numpy().ravel()) <= {0.0, 1.0}


@pytest.mark.parametrize("kwargs,flag", [({"steps": 0}, "--benchmark_steps"),
                                         ({"warmup": 0}, "--benchmark_warmup"),
                                         ({"peak_size": -1}, "--benchmark_matmul_size")])
def test_bad_counts_are_config_errors(tmp_path, kwargs, flag):
    with pytest.raises(ConfigError, match=flag):
        benchmark.benchmark_mode(tiny_config(), str(tmp_path / "w"), **kwargs)
    assert not (tmp_path / "w").exists()


@pytest.mark.slow  # times every step and precision
def test_side_by_side_times_every_step_and_precision(tmp_path):
    config = tiny_config(precision="mixed_bfloat16", gradients="fused")
    names = list(benchmark.compared_variants(config))
    assert names[0] == "fused/mixed_bfloat16" and names[-1] == "paper_literal:fused/float32"
    assert len(names) == len(set(names)) == 5
    rows = benchmark.side_by_side(config, steps=1, warmup=1, peak_size=128)
    assert list(rows) == names
    assert rows["three_tape/float32"]["speedup"] == 1.0
    assert rows["paper_literal:fused/float32"]["speedup_vs_paper_literal"] == 1.0
    for row in rows.values():
        assert row["speedup"] == pytest.approx(
            row["train_img_per_s"] / rows["three_tape/float32"]["train_img_per_s"])
    # Same model, same count of work in either precision; the paper-literal recipe needs more.
    assert rows["fused/float32"]["executed_gflop_per_img"] == pytest.approx(
        rows["fused/mixed_bfloat16"]["executed_gflop_per_img"])
    assert rows["fused/float32"]["gflop_per_img"] < rows["paper_literal:fused/float32"][
        "gflop_per_img"] < rows["paper_literal:fused/float32"]["executed_gflop_per_img"]
    assert "step/precision" in benchmark.format_comparison(rows)


def test_a_conditional_config_is_compared_with_itself_unconditional_and_paper_conditioned():
    config = tiny_config(conditional=True, num_attributes=4)
    variants = benchmark.compared_variants(config)
    plain, paper = variants["unconditional:fused/float32"], variants[
        "paper_conditioning:fused/float32"]
    assert not plain.conditional and paper.conditional
    assert (paper.dec_conditioning, paper.dis_conditioning) == ("input", "fc")
    assert config.replace(conditional=False) == plain  # nothing else differs
    assert not any(n.startswith("unconditional") for n in benchmark.compared_variants(plain))


def test_paper_literal_variant_is_celeba_paper_flags(tmp_path):
    """The comparison's paper-literal recipe is celeba_paper.flags's, field for field."""
    import pathlib

    from vaegan_tf import config as config_lib

    types = {f.name: f.type for f in config_lib.fields()}
    flagged = {}
    flagfile = pathlib.Path(__file__).resolve().parents[1] / "celeba_paper.flags"
    for line in flagfile.read_text().splitlines():
        if not line.startswith("--"):
            continue
        name, _, value = line[2:].partition("=")
        if not value:  # --name / --noname
            name, value = (name[2:], "False") if name not in types else (name, "True")
        cast = {"int": int, "float": float, "str": str, "bool": lambda v: v == "True"}
        flagged[name] = cast[types[name]](value) if name in types else value
    # Every field that changes what or how the step computes (not data, widths, bookkeeping).
    ignored = {"workdir", "dataset", "data_dir", "crop", "train_split", "train_steps",
               "log_every", "eval_every", "image_every", "checkpoint_every"}
    differs = {k: v for k, v in flagged.items()
               if k not in ignored and v != getattr(config_lib.Config(), k)}
    assert {k: pytest.approx(v) for k, v in differs.items()} == benchmark.PAPER_LITERAL
    assert set(benchmark.PAPER_LITERAL) <= set(flagged)


@pytest.mark.slow  # profiles a step
def test_profile_traces_the_step_and_sums_op_time(tmp_path):
    seconds = timing.profile_step(tiny_config(), str(tmp_path / "profile"), steps=1, warmup=1)
    assert list(tmp_path.glob("profile/**/*.xplane.pb"))  # a trace TensorBoard can open
    assert all(v >= 0 for v in seconds.values())
    assert list(seconds.values()) == sorted(seconds.values(), reverse=True)
    # The convolutions and their gradients are there, under their op types.
    assert {"Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter"} <= set(seconds)
    # Only ops: not the executor's spans around the whole step, which would double the total.
    assert not {"Process", "Run"} & set(seconds) and not any("__inference" in k for k in seconds)
    assert "op type" in timing.format_profile(seconds)
