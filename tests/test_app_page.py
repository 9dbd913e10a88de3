"""The page's layout for each kind of run: the parts that apply have their controls, the others
say why not and what to run, on the page."""

import shutil

import numpy as np

from vaegan_tf.app import page, parts
from vaegan_tf.app.backend import Backend
from vaegan_tf.workdir import Workdir


def _elements(blocks) -> dict[str, dict]:
    """elem_id -> the component's props, from the config the browser receives."""
    config = blocks.get_config_file()
    return {c["props"]["elem_id"]: c["props"] for c in config["components"]
            if c.get("props", {}).get("elem_id")}


def _built(workdir, config):
    backend = Backend.load(config, workdir)
    notes = parts.unavailable(config, workdir, backend.vectors is not None,
                              backend.vectors_problem)
    return _elements(page.build(backend, notes, workdir))


def test_a_gan_page_says_why_it_cannot_read_pictures(tiny_runs):
    workdir, config = tiny_runs("gan")
    elements = _built(workdir, config)
    assert {"samples_grid", "samples_seed", "samples_temperature"} <= set(elements)
    for part in ("reconstruct", "edit", "interpolate"):
        note = elements[f"{part}_note"]["value"]
        assert "--model=gan has no encoder" in note and "python run.py --flagfile=demo.flags" in note
    assert not any(e.startswith(("reconstruct_", "edit_slider", "interpolate_a")) and
                   not e.endswith("note") for e in elements)
    assert "--conditional" in elements["conditional_note"]["value"]


def test_a_vaegan_with_vectors_has_one_slider_per_attribute(tiny_runs, tmp_path):
    source, config = tiny_runs("vaegan")
    workdir = str(tmp_path / "run")
    shutil.copytree(source, workdir)
    vectors = np.ones((3, config.latent_dim), np.float32)
    vectors[1] = np.nan
    np.savez(Workdir(workdir).attribute_vectors, vectors=vectors,
             names=np.array(["Smiling", "Male", "Bangs"]), step=2)
    elements = _built(workdir, config)
    assert [elements[f"edit_slider_{i}"]["label"] for i in range(2)] == ["Smiling", "Bangs"]
    assert "edit_slider_2" not in elements and "edit_note" not in elements
    assert {"reconstruct_upload", "reconstruct_tests", "reconstruct_output", "edit_output",
            "interpolate_a_upload", "interpolate_b_tests", "interpolate_row"} <= set(elements)


def test_without_vectors_the_page_names_the_attributes_command(tiny_runs):
    workdir, config = tiny_runs("vaegan")
    note = _built(workdir, config)["edit_note"]["value"]
    assert f"python run.py --mode=attributes --workdir={workdir}" in note
