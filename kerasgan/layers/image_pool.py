"""`ImagePool`: the history of generated images, as model state that
works in a compiled train step and under ``tf.distribute``."""

import keras
import tensorflow as tf

from kerasgan.distribute import all_gather, batch_layout


@keras.saving.register_keras_serializable(package="kerasgan")
class ImagePool(keras.layers.Layer):
    """A buffer of ``pool_size`` earlier generated images (Shrivastava et al.
    2017; Zhu et al. 2017's ``ImagePool``): the discriminator is updated on a mix of
    current and past fakes, which damps oscillation.

    ``pool(fakes, seed_generator=..., training=True)`` returns the images the
    discriminator sees, with the reference code's semantics, image by image in
    the order of the **global** batch:

    - while the pool holds fewer than ``pool_size`` images, the image is stored
      in the next free slot and returned as it is;
    - once full, with probability 0.5 a slot ``j`` uniform in
      ``[0, pool_size)`` is drawn: the image stored there is returned and the
      new image takes its place; otherwise the new image is returned and the
      pool is unchanged.

    Images are processed in sequence, so a later image of a batch may return
    an earlier one of the same batch (as in the reference code). The coins and
    slots are drawn for the global batch (two draws of shape ``(global_batch,)``
    from ``seed_generator``, identical on every replica); under
    ``MirroredStrategy`` every replica all-gathers the global batch of fakes,
    runs the same update of its copy of the pool and returns its own slice, so
    N replicas give exactly the pool and the outputs of one device (the pool
    variables use ``only_first_replica`` aggregation and stay identical).

    The pool (``images``, ``count``) is non-trainable state saved with the
    model, so a resumed run continues with the same history. In inference
    (``training=False``), and with ``pool_size=0``, it is the identity.

    Args:
        pool_size: images kept (50 in Zhu et al. 2017; 0 disables the pool).
        image_shape: ``(H, W, C)`` of the images.
        **kwargs: ``keras.layers.Layer`` arguments (the layer is float32).

    References:
        Shrivastava et al., "Learning from Simulated and Unsupervised Images
        through Adversarial Training", CVPR 2017; Zhu et al., unpaired translation, ICCV
        2017, section 4 ("Training details").

    Example:
        >>> pool = ImagePool(50, (256, 256, 3))
        >>> seen = pool(fakes, seed_generator=gan.seed_generator, training=True)
    """

    def __init__(self, pool_size=50, image_shape=None, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.pool_size = int(pool_size)
        if self.pool_size < 0:
            raise ValueError(f"pool_size must be >= 0, got {pool_size}")
        if image_shape is None or len(image_shape) != 3:
            raise ValueError(f"image_shape must be (height, width, channels), got {image_shape!r}")
        self.image_shape = tuple(int(d) for d in image_shape)
        self.images = self.add_weight(
            shape=(max(self.pool_size, 1), *self.image_shape), initializer="zeros",
            trainable=False, name="images", aggregation="only_first_replica")
        self.count = self.add_weight(shape=(), dtype="int32", initializer="zeros",
                                     trainable=False, name="count",
                                     aggregation="only_first_replica")
        self.built = True

    def call(self, inputs, seed_generator=None, training=False):
        if not training or self.pool_size == 0:
            return inputs
        if seed_generator is None:
            raise ValueError("ImagePool needs the model's seed_generator in training")
        inputs = tf.cast(inputs, tf.float32)
        local = tf.shape(inputs)[0]
        offset, global_batch = batch_layout(local)
        everything = all_gather(inputs, axis=0)  # the global batch of fakes
        coins = keras.random.uniform((global_batch,), seed=seed_generator)
        slots = keras.random.randint((global_batch,), 0, self.pool_size, dtype="int32",
                                     seed=seed_generator)
        size = self.pool_size

        # The sequential query runs on indices only: slot k of the pool holds
        # image src[k] of concat([pool, global batch]); the loop moves ints,
        # and the images are gathered once at the end.
        def body(i, src, count, out_src):
            fill = count < size
            swap = tf.logical_and(tf.logical_not(fill), coins[i] < 0.5)
            j = tf.where(fill, count, slots[i])
            old, new = src[j], size + i
            src = tf.tensor_scatter_nd_update(
                src, [[j]], [tf.where(tf.logical_or(fill, swap), new, old)])
            out_src = tf.tensor_scatter_nd_update(out_src, [[i]], [tf.where(swap, old, new)])
            return i + 1, src, count + tf.cast(fill, tf.int32), out_src

        _, src, count, out_src = tf.while_loop(
            lambda i, *_: i < global_batch, body,
            (tf.constant(0, tf.int32), tf.range(size, dtype=tf.int32),
             tf.convert_to_tensor(self.count.value), tf.zeros([global_batch], tf.int32)))
        both = tf.concat([tf.convert_to_tensor(self.images.value), everything], axis=0)
        self.images.assign(tf.gather(both, src))
        self.count.assign(count)
        return tf.gather(both, out_src[offset : offset + local])

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(pool_size=self.pool_size, image_shape=list(self.image_shape))
        config.pop("dtype", None)
        return config
