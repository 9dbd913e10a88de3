"""What the page computes, without the page: a run restored once, and the pictures each part
shows (prior samples, reconstructions, interpolations, attribute edits, conditional draws) as
uint8 arrays. Every request reuses the one model; nothing here writes to the run's folder.

Pictures in are float32 [S, S, 3] in [-1, 1] (pictures.crop_picture or a test image); pictures
out are uint8 (images.image_grid). Codes are the posterior means μ(x), as in --mode=attributes.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from vaegan_tf import data
from vaegan_tf.app.vectors import AttributeVectors, load_vectors
from vaegan_tf.config import Config
from vaegan_tf.errors import ConfigError, DataError
from vaegan_tf.evaluation import inference, sampling
from vaegan_tf.images import image_grid
from vaegan_tf.workdir import Workdir

SAMPLES = 64  # the prior grid, 8x8 as --mode=sample's
DRAWS = 16  # the conditional grid, 4x4
TEST_PICKS = 16  # test images offered beside uploads
PATH_STEPS = 8  # decoded points between two pictures, ends included
MAX_SEED = 2**32 - 1  # numpy's seeds are unsigned 32-bit integers here
MAX_TEMPERATURE = 3.0


def check_seed(seed) -> int:
    if seed is None or float(seed) != int(float(seed)) or not 0 <= int(float(seed)) <= MAX_SEED:
        raise ConfigError(f"seed: a whole number from 0 to {MAX_SEED}, not {seed}")
    return int(float(seed))


def check_temperature(temperature) -> float:
    if temperature is None or not 0.0 <= float(temperature) <= MAX_TEMPERATURE:
        raise ConfigError(f"temperature: from 0 to {MAX_TEMPERATURE}, not {temperature}")
    return float(temperature)


@dataclasses.dataclass
class Backend:
    config: Config
    model: object  # VAEGAN
    step: int
    test_images: np.ndarray | None  # [N, S, S, 3] in [-1, 1]; None when the data is missing
    test_attributes: np.ndarray | None  # [N, A]
    attribute_names: tuple[str, ...]
    vectors: AttributeVectors | None
    vectors_problem: str = ""  # why there are no vectors (vectors.load_vectors)
    test_problem: str = ""  # why there are no test images (the DataError's message)

    @classmethod
    def load(cls, config: Config, workdir: str | Workdir) -> Backend:
        """The run restored from its checkpoint (config.checkpoint, else the newest): a
        CheckpointError when there is none. Missing test data only takes the test pictures away."""
        run = Workdir.of(workdir)
        model, step = inference.restored(config, run)
        images = attributes = None
        names: tuple[str, ...] = ()
        test_problem = ""
        try:
            index = data.load_index(config)
            names = index.attribute_names
            images, attributes = inference.split_images(config, "test", TEST_PICKS, index)
        except DataError as e:
            test_problem = str(e)
        if config.conditional and len(names) != config.num_attributes:
            names = tuple(f"attribute {i + 1}" for i in range(config.num_attributes))
        vectors, problem = ((None, "") if not config.uses_encoder or config.conditional
                            else load_vectors(run, config.latent_dim))
        backend = cls(config, model, step, images, attributes, names, vectors, problem,
                      test_problem)
        backend.samples(0, 1.0)  # the first call builds the kernels: keep it off a request
        return backend

    @property
    def has_encoder(self) -> bool:
        return self.model.encoder is not None

    def _decode(self, z: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
        if self.config.conditional and y is None:
            y = self._sample_attributes(len(z))
        return inference.decode(self.model, z.astype(np.float32), max(1, len(z)), y)

    def _sample_attributes(self, count: int) -> np.ndarray:
        """y for unconditioned requests of a conditional run: the test split's vectors in turn,
        as --mode=sample draws its prior grid (all attributes off without test data)."""
        if self.test_attributes is None or not len(self.test_attributes):
            return np.zeros((count, self.config.num_attributes), np.float32)
        return np.resize(self.test_attributes, (count, self.test_attributes.shape[1]))

    def codes(self, seed, temperature, count: int) -> np.ndarray:
        """z ~ N(0, T² I): [count, L], the same for the same seed and temperature."""
        rng = np.random.default_rng(check_seed(seed))
        z = rng.standard_normal((count, self.config.latent_dim)).astype(np.float32)
        return check_temperature(temperature) * z

    def samples(self, seed, temperature, count: int = SAMPLES) -> np.ndarray:
        """The prior grid: uint8 [8S, 8S, 3] for 64 samples."""
        return image_grid(self._decode(self.codes(seed, temperature, count)),
                          cols=int(np.ceil(np.sqrt(count))))

    def attribute_values(self, ticked) -> np.ndarray:
        """A conditional run's y [A] for the ticked attributes: 1 and 0 (LFW: the test split's
        95th and 5th percentile scores, as --mode=sample's attribute switches)."""
        ticked = np.asarray(ticked, bool)
        if ticked.shape != (self.config.num_attributes,):
            raise ConfigError(f"attributes: {self.config.num_attributes} boxes, got "
                              f"{ticked.shape[0] if ticked.ndim else 0}")
        reference = (self.test_attributes if self.test_attributes is not None
                     else np.zeros((1, len(ticked)), np.float32))
        off, on = sampling.switch_values(reference, self.config.binary_attributes)
        return np.where(ticked, on, off).astype(np.float32)

    def draws(self, ticked, seed, temperature, count: int = DRAWS) -> np.ndarray:
        """A conditional run's grid: `count` codes, each decoded with the ticked attributes."""
        y = np.repeat(self.attribute_values(ticked)[None], count, axis=0)
        return image_grid(self._decode(self.codes(seed, temperature, count), y),
                          cols=int(np.ceil(np.sqrt(count))))

    def encode(self, image: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
        """μ(x) [L] of one [S, S, 3] picture (μ(x, y) in a conditional run)."""
        if not self.has_encoder:
            raise ConfigError(f"--model={self.config.model} has no encoder to read a picture with")
        if self.config.conditional and y is None:
            y = self._sample_attributes(1)[0]
        batch_y = None if y is None else np.asarray(y, np.float32)[None]
        return inference.encode(self.model, np.asarray(image, np.float32)[None], 1, batch_y)[0]

    def reconstruct(self, image: np.ndarray, y: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
        """(code [L], uint8 [S, S, 3] Dec(μ(x)))."""
        code = self.encode(image, y)
        return code, self.picture(code, y)

    def picture(self, code: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
        """uint8 [S, S, 3] Dec(code)."""
        return image_grid(self._decode(np.asarray(code)[None], None if y is None
                                       else np.asarray(y, np.float32)[None]), cols=1)

    def interpolate(self, a: np.ndarray, b: np.ndarray, y: np.ndarray | None = None,
                    steps: int = PATH_STEPS) -> np.ndarray:
        """One row, uint8 [S, (steps + 2) S, 3]: picture a, Dec(z_t) for z_t from μ(a) to μ(b)
        (sampling.interpolate), picture b."""
        path = sampling.interpolate(self.encode(a, y), self.encode(b, y), steps)
        path_y = None if y is None else np.repeat(np.asarray(y, np.float32)[None], steps, 0)
        decoded = self._decode(path, path_y)
        return image_grid(np.concatenate([np.asarray(a)[None], decoded, np.asarray(b)[None]]),
                          cols=steps + 2)

    def edit(self, code: np.ndarray, strengths) -> np.ndarray:
        """uint8 [S, S, 3] Dec(code + Σ_a s_a v_a): strength s_a per attribute vector v_a
        (all zero: the plain reconstruction)."""
        if self.vectors is None:
            raise ConfigError(f"no attribute vectors: {self.vectors_problem}")
        strengths = np.asarray(strengths, np.float32)
        if strengths.shape != (len(self.vectors.names),):
            raise ConfigError(f"attribute strengths: {len(self.vectors.names)} values, got "
                              f"{strengths.size}")
        return self.picture(np.asarray(code, np.float32) + strengths @ self.vectors.vectors)

    def test_image(self, number) -> np.ndarray:
        """Test image `number` (1-based, as the page lists them), [S, S, 3] in [-1, 1]."""
        if self.test_images is None:
            raise DataError(f"no test images: {self.test_problem}")
        if number is None or not 1 <= int(number) <= len(self.test_images):
            raise DataError(f"test image: pick one from 1 to {len(self.test_images)}")
        return self.test_images[int(number) - 1]
