"""perf/preemption_cost.py: the multi-worker preemption check's cost per training step."""

from conftest import tiny_config

from vaegan_tf.perf import benchmark, preemption_cost


def test_the_check_runs_once_per_step_and_its_share_is_its_seconds_over_the_step(monkeypatch):
    calls = []
    original = preemption_cost._TimedCheck.on_train_batch_end

    def counted(self, batch, logs=None):
        calls.append(batch)
        original(self, batch, logs)

    monkeypatch.setattr(preemption_cost._TimedCheck, "on_train_batch_end", counted)
    result = preemption_cost.preemption_check_cost(tiny_config(), steps=3, rounds=2)
    assert len(calls) == 3 * 2  # only in the fits with the check, once per step
    assert 0 < result["preemption_check_s_per_step"] < 0.01
    # A share of a whole step: the check is far cheaper than the step it rides on.
    assert 0 < result["preemption_check_fraction_of_step"] < 0.5
    assert 0.3 < result["train_with_preemption_check_vs_without"] < 3


def test_small_figures_are_printed_in_exponent_form():
    table = benchmark.format_table({"check_s": 2.9e-05, "step_s": 0.367, "zero": 0.0, "n": 32})
    assert table.splitlines() == ["check_s    2.90e-05", "step_s        0.367",
                                  "zero          0.000", "n                32"]
