"""vaegan_tf: the VAE/GAN of Larsen et al., "Autoencoding beyond pixels using a learned similarity
metric" (ICML 2016), on Keras 3 / TensorFlow 2."""

__version__ = "0.1.0"
