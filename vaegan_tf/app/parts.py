"""Which parts of the page apply to a run, and for those that do not, the sentence the page shows
in their place: why not, and the command that would make them apply. Decided once at start-up
from the run's config and what its folder holds."""

from __future__ import annotations

from vaegan_tf.config import Config

SAMPLES, RECONSTRUCT, INTERPOLATE, EDIT, CONDITIONAL = (
    "samples", "reconstruct", "interpolate", "edit", "conditional")
PARTS = (SAMPLES, RECONSTRUCT, INTERPOLATE, EDIT, CONDITIONAL)


def _encoder_note(config: Config, workdir: str) -> str:
    return (f"--model={config.model} has no encoder, so it cannot read a picture. Train a model "
            f"with one into another folder, e.g. `python run.py --flagfile=demo.flags "
            f"--workdir={workdir}_vaegan`, and open that.")


def unavailable(config: Config, workdir: str, has_vectors: bool, vectors_problem: str = ""
                ) -> dict[str, str]:
    """{part: why it does not apply, with the command that would make it} for each part that
    does not apply to this run; the parts not named apply."""
    notes = {}
    if not config.uses_encoder:
        for part in (RECONSTRUCT, INTERPOLATE, EDIT):
            notes[part] = _encoder_note(config, workdir)
    elif config.conditional:
        notes[EDIT] = ("This is a conditional model: it takes the attributes directly, so there "
                       "are no attribute vectors to add. Tick attributes under *Conditional "
                       "draws* instead.")
    elif not has_vectors:
        notes[EDIT] = (f"This run has no attribute vectors yet ({vectors_problem}). Make them "
                       f"with `python run.py --mode=attributes --workdir={workdir}`, then restart "
                       f"this page.")
    if not config.conditional:
        notes[CONDITIONAL] = (
            f"--model={config.model} was trained without --conditional, so its decoder cannot "
            f"be asked for attributes. Train a conditional model into another folder, e.g. "
            f"`python run.py --flagfile=conditional_demo.flags --workdir={workdir}_conditional "
            f"--data_dir={workdir}_conditional/data`, and open that.")
    return notes
