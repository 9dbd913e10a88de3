"""The Gradio page: its parts laid out, each control wired to its handler (handlers.py). Only
this module and server.py import Gradio, so `run.py --help` and the other modes never load it.

Every element a test or a user's script may look for has an elem_id (`#samples_grid`, ...), and
a part that does not apply to the run shows its note (parts.py) in `#<part>_note` instead of
its controls.
"""

from __future__ import annotations

import gradio as gr

from vaegan_tf.app import parts
from vaegan_tf.app.backend import DRAWS, MAX_SEED, MAX_TEMPERATURE, SAMPLES, TEST_PICKS, Backend
from vaegan_tf.app.handlers import Handlers, shown
from vaegan_tf.images import image_grid

EDIT_RANGE = 3.0  # slider strengths, in attribute vectors; the Fig. 6 edits use 1
EDIT_STEP = 0.1
SLIDERS_PER_ROW = 3


def _note(part: str, notes: dict[str, str]) -> bool:
    """Shows a part's note when it does not apply; True when it does apply."""
    if part in notes:
        gr.Markdown(f"**Not available for this run.** {notes[part]}", elem_id=f"{part}_note")
        return False
    return True


def _image(label: str, elem_id: str) -> gr.Image:
    # PNG, not Gradio's default WebP: the pixels shown are exactly the model's.
    return gr.Image(label=label, elem_id=elem_id, format="png", interactive=False,
                    buttons=["download"])


def _seed_and_temperature(prefix: str) -> tuple[gr.Number, gr.Slider]:
    seed = gr.Number(0, label="seed", precision=0, minimum=0, maximum=MAX_SEED,
                     elem_id=f"{prefix}_seed")
    temperature = gr.Slider(0.0, MAX_TEMPERATURE, 1.0, step=0.05, label="temperature T",
                            info="z ~ N(0, T² I)", elem_id=f"{prefix}_temperature")
    return seed, temperature


def _picture_source(prefix: str, handlers: Handlers) -> tuple[gr.File, gr.Gallery | None]:
    """An upload box and, when the run's test split could be read, a gallery of test images."""
    upload = gr.File(label="upload a picture (any size: cropped like the training data)",
                     elem_id=f"{prefix}_upload", type="filepath")
    gallery = None
    backend = handlers.backend
    if backend.test_images is not None:
        tiles = [shown(image_grid(x[None], cols=1), handlers.grid_scale)
                 for x in backend.test_images[:TEST_PICKS]]
        gallery = gr.Gallery(tiles, label="or pick a test image", columns=8, height="auto",
                             allow_preview=False, elem_id=f"{prefix}_tests")
    else:
        gr.Markdown(f"No test images to pick: {backend.test_problem}",
                    elem_id=f"{prefix}_tests_note")
    return upload, gallery


def build(backend: Backend, notes: dict[str, str], workdir: str) -> gr.Blocks:
    """The page for `backend`'s run; `notes` from parts.unavailable."""
    handlers = Handlers(backend)
    config = backend.config
    with gr.Blocks(title=f"vaegan_tf: {workdir}", analytics_enabled=False) as page:
        gr.Markdown(f"# vaegan_tf: {config.model} in `{workdir}`, step {backend.step}\n"
                    f"{config.image_size}x{config.image_size} pictures, --crop={config.crop}, "
                    f"{config.latent_dim}-dimensional codes.")
        # The conditional part's ticked attributes (y): reconstructions and paths use them too,
        # so the box exists before their events and is drawn in its own part at the end.
        ticks = gr.State([])
        if parts.CONDITIONAL not in notes:
            ticks = gr.CheckboxGroup(list(backend.attribute_names), label="attributes",
                                     elem_id="conditional_attributes", render=False)
        gr.Markdown("## Samples from the prior")
        with gr.Row():
            seed, temperature = _seed_and_temperature("samples")
            button = gr.Button("Draw", elem_id="samples_draw")
        grid = _image(f"{SAMPLES} samples", "samples_grid")
        s_message = gr.Markdown(elem_id="samples_message")
        for event in (button.click, temperature.release, seed.submit, page.load):
            event(handlers.samples, [seed, temperature], [grid, s_message])

        gr.Markdown("## Reconstruct")
        code = gr.State(None)
        if _note(parts.RECONSTRUCT, notes):
            with gr.Row():
                with gr.Column():
                    upload, gallery = _picture_source("reconstruct", handlers)
                crop = _image("the picture, cropped", "reconstruct_input")
                output = _image("its reconstruction", "reconstruct_output")
            r_message = gr.Markdown(elem_id="reconstruct_message")
            r_outputs = [crop, output, code, r_message]
            r_events = [upload.upload(lambda path, y: handlers.reconstruct(path, None, y),
                                      [upload, ticks], r_outputs)]
            if gallery is not None:
                def picked(y, evt: gr.SelectData):
                    return handlers.reconstruct(None, evt.index + 1, y)
                r_events.append(gallery.select(picked, [ticks], r_outputs))

        gr.Markdown("## Edit attributes")
        if _note(parts.EDIT, notes):
            vectors = backend.vectors
            gr.Markdown(f"Each slider adds its attribute vector (from step {vectors.step}; "
                        f"`--mode=attributes`) times its value to the reconstructed picture's "
                        f"code. 0 everywhere is the plain reconstruction."
                        + (f" No vector for: {', '.join(vectors.without)}." if vectors.without
                           else ""))
            sliders = []
            with gr.Row():
                with gr.Column(scale=3):
                    for first in range(0, len(vectors.names), SLIDERS_PER_ROW):
                        with gr.Row():
                            sliders += [gr.Slider(-EDIT_RANGE, EDIT_RANGE, 0.0, step=EDIT_STEP,
                                                  label=name, elem_id=f"edit_slider_{i}")
                                        for i, name in enumerate(vectors.names) if
                                        first <= i < first + SLIDERS_PER_ROW]
                edited = _image("edited", "edit_output")
            e_message = gr.Markdown(elem_id="edit_message")
            for slider in sliders:
                slider.change(handlers.edit, [code, *sliders], [edited, e_message],
                              trigger_mode="always_last", show_progress="hidden")
            for event in r_events:  # a new picture: show it with the sliders as they stand
                event.then(handlers.edit, [code, *sliders], [edited, e_message])

        gr.Markdown("## Interpolate")
        if _note(parts.INTERPOLATE, notes):
            ends = []
            with gr.Row():
                for name in ("a", "b"):
                    with gr.Column():
                        upload, gallery = _picture_source(f"interpolate_{name}", handlers)
                        shown_end = _image(f"picture {name.upper()}", f"interpolate_{name}")
                        kept = gr.State(None)
                        end_message = gr.Markdown(elem_id=f"interpolate_{name}_message")
                        ends.append((upload, gallery, [shown_end, kept, end_message], kept))
            row = _image("from A to B", "interpolate_row")
            i_message = gr.Markdown(elem_id="interpolate_message")
            end_states = [kept for *_, kept in ends]
            for upload, gallery, outputs, _ in ends:
                events = [upload.upload(lambda path: handlers.end(path, None), [upload], outputs)]
                if gallery is not None:
                    def picked_end(evt: gr.SelectData):
                        return handlers.end(None, evt.index + 1)
                    events.append(gallery.select(picked_end, None, outputs))
                for event in events:
                    event.then(handlers.interpolate, [*end_states, ticks], [row, i_message])
        gr.Markdown("## Conditional draws")
        if _note(parts.CONDITIONAL, notes):
            gr.Markdown("A conditional model draws the attributes it is given; reconstructions "
                        "and paths above also use the ticked ones.")
            ticks.render()
            with gr.Row():
                c_seed, c_temperature = _seed_and_temperature("conditional")
                c_button = gr.Button("Draw", elem_id="conditional_draw")
            c_grid = _image(f"{DRAWS} draws with the ticked attributes", "conditional_grid")
            c_message = gr.Markdown(elem_id="conditional_message")
            for event in (c_button.click, ticks.change, c_temperature.release, c_seed.submit,
                          page.load):
                event(handlers.draws, [ticks, c_seed, c_temperature], [c_grid, c_message])
    return page


def theme() -> gr.themes.Base:
    # System fonts: the default theme fetches Google's, and the page must work offline.
    return gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                             font_mono=["ui-monospace", "monospace"])
