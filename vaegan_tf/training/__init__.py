"""The training loop (train.py) and what runs beside it: checkpoints, divergence and signal
handling, TensorBoard summaries, the progress line and tf.distribute strategies."""
