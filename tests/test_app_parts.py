"""Which parts of the page apply to which run, and the command the page names for the others."""

from conftest import tiny_config

from vaegan_tf.app import parts


def test_a_vaegan_with_vectors_has_every_part_but_conditional_draws():
    notes = parts.unavailable(tiny_config(), "runs/demo", has_vectors=True)
    assert set(notes) == {parts.CONDITIONAL}
    assert "--conditional" in notes[parts.CONDITIONAL]
    assert "python run.py --flagfile=conditional_demo.flags" in notes[parts.CONDITIONAL]


def test_without_vectors_the_edit_part_names_the_attributes_command():
    notes = parts.unavailable(tiny_config(), "runs/demo", has_vectors=False,
                              vectors_problem="runs/demo/attribute_vectors.npz does not exist")
    assert "`python run.py --mode=attributes --workdir=runs/demo`" in notes[parts.EDIT]
    assert "attribute_vectors.npz does not exist" in notes[parts.EDIT]


def test_a_gan_has_no_encoder_for_three_parts():
    notes = parts.unavailable(tiny_config(model="gan"), "runs/gan", has_vectors=False)
    assert set(notes) == {parts.RECONSTRUCT, parts.INTERPOLATE, parts.EDIT, parts.CONDITIONAL}
    for part in (parts.RECONSTRUCT, parts.INTERPOLATE, parts.EDIT):
        assert "--model=gan has no encoder" in notes[part]
        assert "--model=vaegan" not in notes[part] and "--flagfile=demo.flags" in notes[part]


def test_a_conditional_model_has_draws_and_no_vectors():
    notes = parts.unavailable(tiny_config(conditional=True), "runs/c", has_vectors=False)
    assert set(notes) == {parts.EDIT} and "conditional model" in notes[parts.EDIT]
