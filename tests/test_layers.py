"""The package's layers (pyproject.toml's import-linter contracts) hold, and a wrong-way import
breaks them: `lint-imports` is what CI runs through this test."""

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _lint(root: str) -> subprocess.CompletedProcess:
    # The packages are found on PYTHONPATH first: `root`'s copy, not the installed one.
    env = {**os.environ, "PYTHONPATH": root}
    lint_imports = os.path.join(os.path.dirname(sys.executable), "lint-imports")
    return subprocess.run([lint_imports, "--no-cache"], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300)


def _copy(tmp_path) -> str:
    root = str(tmp_path / "repo")
    for name in ("vaegan_tf", "export"):
        shutil.copytree(os.path.join(ROOT, name), os.path.join(root, name),
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(os.path.join(ROOT, "pyproject.toml"), root)
    return root


def _add_import(root: str, module: str, line: str) -> None:
    with open(os.path.join(root, *module.split(".")) + ".py", "a") as f:
        f.write(f"\n{line}  # noqa\n")


def test_the_layers_hold():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


@pytest.mark.parametrize("module,line,contract", [
    ("vaegan_tf.data.index", "import vaegan_tf.model.networks", "vaegan_tf: app | perf >"),
    ("vaegan_tf.workdir", "from vaegan_tf import run_record", "vaegan_tf: app | perf >"),
    ("vaegan_tf.training.progress", "from vaegan_tf.evaluation import knn", "vaegan_tf: app | perf >"),
    ("vaegan_tf.files", "import vaegan_tf.data", "vaegan_tf: app | perf >"),
    ("vaegan_tf.evaluation.sampling", "import vaegan_tf.app.backend", "vaegan_tf: app | perf >"),
    ("vaegan_tf.perf.benchmark", "import vaegan_tf.app.pictures", "vaegan_tf: app | perf >"),
    ("vaegan_tf.training.train", "import export.saved_model", "export/ depends on vaegan_tf"),
    ("vaegan_tf.data.stream", "import vaegan_tf.data.pipeline", "no import cycles"),
])
def test_a_wrong_way_import_breaks_a_contract(tmp_path, module, line, contract):
    root = _copy(tmp_path)
    _add_import(root, module, line)
    result = _lint(root)
    assert result.returncode != 0
    broken = [l for l in result.stdout.splitlines() if l.endswith("BROKEN")]
    assert any(b.startswith(contract) for b in broken), result.stdout
