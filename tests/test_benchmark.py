import json

from conftest import tiny_config
from vaegan_tf import benchmark


def test_benchmark_writes_every_key_and_keeps_others(tmp_path):
    workdir = tmp_path / "bench"
    workdir.mkdir()
    (workdir / "benchmark.json").write_text(json.dumps({"from_an_earlier_run": 1.0}))
    config = tiny_config(data_dir=str(tmp_path / "data"))
    results = benchmark.run_benchmark(config, str(workdir), steps=2)
    saved = json.loads((workdir / "benchmark.json").read_text())
    for key in ("input_img_per_s_jpeg", "input_img_per_s_cache", "input_cache_build_s",
                "train_img_per_s_pipeline", "train_img_per_s_in_memory",
                "train_pipeline_vs_in_memory"):
        assert saved[key] == results[key] and saved[key] > 0, key
    assert saved["from_an_earlier_run"] == 1.0
    assert abs(saved["train_pipeline_vs_in_memory"]
               - saved["train_img_per_s_pipeline"] / saved["train_img_per_s_in_memory"]) < 1e-9
