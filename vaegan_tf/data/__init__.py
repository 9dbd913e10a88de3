"""Images in, batches out: the sources (a CelebA folder, TFDS `celeb_a`, LFW, the synthetic
faces, any folder of pictures), their preprocessing, caches and corrupt-image handling, and the tf.data pipeline
(pipeline.py) that joins them. The names below are the layer's interface to the layers above.
"""

from vaegan_tf.data.corrupt import CorruptImages
from vaegan_tf.data.index import ImageIndex
from vaegan_tf.data.pipeline import make_dataset, training_stream
from vaegan_tf.data.sources import (
                                    PRESENT_ABOVE,
                                    SPLITS,
                                    Index,
                                    attribute_names,
                                    load_index,
                                    present,
                                    require_attributes,
                                    split_size,
)
from vaegan_tf.data.tfds_source import TFDSIndex

__all__ = ["PRESENT_ABOVE", "SPLITS", "CorruptImages", "ImageIndex", "Index", "TFDSIndex",
           "attribute_names", "load_index", "make_dataset", "present", "require_attributes", "split_size",
           "training_stream"]
