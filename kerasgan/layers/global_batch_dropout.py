"""`GlobalBatchDropout`: dropout whose mask does not depend on how a batch is
split over replicas."""

import keras
import numpy as np
import tensorflow as tf

from kerasgan.distribute import batch_layout


@keras.saving.register_keras_serializable(package="kerasgan")
class GlobalBatchDropout(keras.layers.Layer):
    """Dropout (inverted, like ``keras.layers.Dropout``) for a generator whose
    dropout is its noise (a paired translator's U-Net, Isola et al. 2017).

    ``keras.layers.Dropout`` draws each replica's mask for that replica's
    slice of the batch, so under ``MirroredStrategy`` N replicas drop other
    units than one device on the same global batch. This layer draws the mask
    for the **global** batch from its own ``SeedGenerator`` (identical on every
    replica) and keeps this replica's slice (:mod:`kerasgan.distribute`), as
    :class:`kerasgan.GAN` does for latents: a mirrored run makes the same
    update as one device. In inference
    (``training=False``) it is the identity, so an exported generator is
    deterministic.

    Args:
        rate: fraction of the units to drop, in [0, 1).
        seed: seed of the layer's ``SeedGenerator``.
        **kwargs: ``keras.layers.Layer`` arguments.

    Example:
        >>> x = GlobalBatchDropout(0.5, seed=0)(x, training=True)
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed, name="dropout_seed")
        self.supports_masking = True

    def call(self, inputs, training=False):
        if not training or self.rate == 0.0:
            return inputs
        local = tf.shape(inputs)[0]
        offset, global_batch = batch_layout(local)
        dynamic = tf.shape(inputs)
        shape = [global_batch] + [d if d is not None else dynamic[i]
                                  for i, d in enumerate(inputs.shape[1:], 1)]
        keep = keras.random.uniform(shape, seed=self.seed_generator) >= self.rate
        keep = keep[offset : offset + local]
        return tf.where(keep, inputs / (1.0 - self.rate), tf.zeros_like(inputs))

    # The mask stream is part of the state: saved with the weights, a loaded
    # or resumed model drops the units the original would have.
    _SEED_KEY = "seed_generator_state"

    def save_own_variables(self, store):
        super().save_own_variables(store)
        store[self._SEED_KEY] = self.seed_generator.state.numpy()

    def load_own_variables(self, store):
        if self._SEED_KEY in store.keys():
            self.seed_generator.state.assign(np.asarray(store[self._SEED_KEY]))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, seed=self.seed)
        return config
