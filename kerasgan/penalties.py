"""Input-gradient penalties for discriminators.

These are the only places, with the GAN train step, that use TensorFlow directly:
they need gradients with respect to the *inputs*. Each returns a **per-example**
penalty of shape ``(batch,)``; the train step reduces over the global batch.

Both assume the discriminator treats examples independently (no batch
normalisation in it): otherwise the gradient of ``sum(D(x))`` with respect to one
example also carries the other examples' terms, and the per-example norm is wrong.
"""

import tensorflow as tf


def _per_example_sq_norm(grads):
    grads = tf.cast(grads, tf.float32)
    return tf.reduce_sum(tf.reshape(tf.square(grads), (tf.shape(grads)[0], -1)), axis=1)


def gradient_penalty(discriminator, real, fake, epsilon, training=True):
    """WGAN-GP gradient penalty ``(||grad_x D(x_hat)||_2 - 1)^2`` (two-sided).

    ``x_hat = epsilon * real + (1 - epsilon) * fake`` with one ``epsilon`` per
    example. The caller samples ``epsilon`` (so that the random stream stays
    under the model's seed) with shape ``(batch, 1, ..., 1)`` or ``(batch,)``.

    Args:
        discriminator: a callable (keras.Model) mapping images to logits.
        real: real images ``(batch, H, W, C)``.
        fake: generated images, same shape.
        epsilon: interpolation coefficients in [0, 1], ``(batch,)`` or broadcastable.
        training: passed to the discriminator.

    Returns:
        Per-example penalty, ``(batch,)``. Multiply by the penalty weight
        (10 in the paper).

    References:
        Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017.
    """
    real = tf.cast(real, tf.float32)
    fake = tf.cast(tf.stop_gradient(fake), tf.float32)
    epsilon = tf.cast(epsilon, tf.float32)
    if epsilon.shape.rank == 1:
        epsilon = tf.reshape(epsilon, [-1] + [1] * (real.shape.rank - 1))
    x_hat = epsilon * real + (1.0 - epsilon) * fake
    with tf.GradientTape() as tape:
        tape.watch(x_hat)
        logits = discriminator(x_hat, training=training)
        total = tf.reduce_sum(tf.cast(logits, tf.float32))
    grads = tape.gradient(total, x_hat)
    # The 1e-12 keeps the gradient of the norm finite at an exact zero gradient.
    norm = tf.sqrt(_per_example_sq_norm(grads) + 1e-12)
    return tf.square(norm - 1.0)


def r1_penalty(discriminator, real, training=True):
    """R1 penalty ``||grad_x D(x)||_2^2`` on real images.

    Args:
        discriminator: a callable mapping images to logits.
        real: real images ``(batch, H, W, C)``.
        training: passed to the discriminator.

    Returns:
        Per-example penalty, ``(batch,)``. The usual loss term is
        ``gamma / 2 * r1_penalty(...)``.

    References:
        Mescheder et al., "Which Training Methods for GANs do actually
        Converge?", ICML 2018.
    """
    real = tf.cast(real, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(real)
        logits = discriminator(real, training=training)
        total = tf.reduce_sum(tf.cast(logits, tf.float32))
    grads = tape.gradient(total, real)
    return _per_example_sq_norm(grads)
