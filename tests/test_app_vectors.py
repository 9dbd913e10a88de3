"""The page's attribute vectors: the usable ones, or the reason there are none."""

import numpy as np

from vaegan_tf.app.vectors import load_vectors
from vaegan_tf.workdir import Workdir


def _save(run: Workdir, vectors, names=("Smiling", "Male", "Bangs"), step=7):
    np.savez(run.attribute_vectors, vectors=np.asarray(vectors, np.float32),
             names=np.array(names), step=step)


def test_vectors_without_nan_rows_are_kept_in_order(tmp_path):
    run = Workdir(str(tmp_path))
    vectors = np.arange(12, dtype=np.float32).reshape(3, 4)
    vectors[1] = np.nan
    _save(run, vectors)
    loaded, problem = load_vectors(run, 4)
    assert problem == "" and loaded.names == ("Smiling", "Bangs") and loaded.step == 7
    np.testing.assert_array_equal(loaded.vectors, vectors[[0, 2]])
    assert loaded.without == ("Male",)


def test_missing_mismatched_unreadable_or_empty_vectors_say_why(tmp_path):
    run = Workdir(str(tmp_path))
    assert load_vectors(run, 4) == (None, f"{run.attribute_vectors} does not exist")
    _save(run, np.zeros((3, 8)))
    assert "not one per attribute of this model's 4-dimensional codes" in load_vectors(run, 4)[1]
    _save(run, np.full((3, 4), np.nan))
    assert "no attribute with a vector" in load_vectors(run, 4)[1]
    with open(run.attribute_vectors, "wb") as f:
        f.write(b"not a zip")
    vectors, problem = load_vectors(run, 4)
    assert vectors is None and "is unreadable" in problem
