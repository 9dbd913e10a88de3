"""--mode=app: a local web page (Gradio) to play with a trained run: prior samples,
reconstructions, interpolations, attribute edits and conditional draws."""
