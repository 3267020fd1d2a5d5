"""Input-gradient penalties: for discriminators (gradient penalty, R1) and
the style-based generator's path-length regulariser (Karras et al. 2020) for generators.

These are the only places, with the GAN train step, that use TensorFlow directly:
they need gradients with respect to the *inputs*. Each returns a **per-example**
penalty of shape ``(batch,)``; the train step reduces over the global batch.

Both assume the discriminator treats examples independently (no batch
normalisation in it): otherwise the gradient of ``sum(D(x))`` with respect to one
example also carries the other examples' terms, and the per-example norm is wrong.

Mixed precision: the penalties are computed in float32 whatever the
discriminator computes in. The images (and interpolation coefficients) are cast
to float32, so the gradient is taken with respect to a float32 tensor (the
discriminator's first layer casts it to its compute dtype, and the gradient
comes back through that cast as float32); the logits are summed in float32; the
squared norm, the norm and the penalty are float32. Under ``mixed_float16`` the
gradient *inside* the discriminator is float16, and a small one underflows
(float16's smallest subnormal is about 6e-8): pass ``loss_scale`` (the
discriminator optimizer's current dynamic loss scale; :class:`kerasgan.GAN`
does) and the summed logits are multiplied by it before the inner gradient is
taken, and the float32 gradient is divided by it afterwards, the same loss
scaling the optimizer applies to the outer loss. If the scaled inner gradient
overflows, the penalty is not finite, the loss-scale optimizer skips that step
and halves the scale, exactly as for an overflow in the outer gradient.
"""

import tensorflow as tf


def _per_example_sq_norm(grads):
    grads = tf.cast(grads, tf.float32)
    return tf.reduce_sum(tf.reshape(tf.square(grads), (tf.shape(grads)[0], -1)), axis=1)


def _input_gradient(discriminator, x, training, loss_scale):
    """``grad_x sum(D(x))`` in float32, loss-scaled inside when ``loss_scale``
    is given (see the module docstring)."""
    scale = None
    if loss_scale is not None:
        scale = tf.stop_gradient(tf.cast(tf.convert_to_tensor(loss_scale), tf.float32))
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = discriminator(x, training=training)
        total = tf.reduce_sum(tf.cast(logits, tf.float32))
        if scale is not None:
            total = total * scale
    grads = tf.cast(tape.gradient(total, x), tf.float32)
    if scale is not None:
        grads = grads / scale
    return grads


def gradient_penalty(discriminator, real, fake, epsilon, training=True, loss_scale=None):
    """The Wasserstein gradient penalty (Gulrajani et al. 2017) ``(||grad_x D(x_hat)||_2 - 1)^2`` (two-sided).

    ``x_hat = epsilon * real + (1 - epsilon) * fake`` with one ``epsilon`` per
    example. The caller samples ``epsilon`` (so that the random stream stays
    under the model's seed) with shape ``(batch, 1, ..., 1)`` or ``(batch,)``.

    Args:
        discriminator: a callable (keras.Model) mapping images to logits.
        real: real images ``(batch, H, W, C)``.
        fake: generated images, same shape.
        epsilon: interpolation coefficients in [0, 1], ``(batch,)`` or broadcastable.
        training: passed to the discriminator.
        loss_scale: None, or the loss scale (a float32 scalar or variable, e.g.
            a ``LossScaleOptimizer``'s ``dynamic_scale``) applied to the inner
            gradient of a float16 discriminator; see the module docstring.

    Returns:
        Per-example penalty, ``(batch,)``, float32. Multiply by the penalty
        weight (10 in the paper).

    References:
        Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017.
    """
    real = tf.cast(real, tf.float32)
    fake = tf.cast(tf.stop_gradient(fake), tf.float32)
    epsilon = tf.cast(epsilon, tf.float32)
    if epsilon.shape.rank == 1:
        epsilon = tf.reshape(epsilon, [-1] + [1] * (real.shape.rank - 1))
    x_hat = epsilon * real + (1.0 - epsilon) * fake
    grads = _input_gradient(discriminator, x_hat, training, loss_scale)
    # The 1e-12 keeps the gradient of the norm finite at an exact zero gradient.
    norm = tf.sqrt(_per_example_sq_norm(grads) + 1e-12)
    return tf.square(norm - 1.0)


def r1_penalty(discriminator, real, training=True, loss_scale=None):
    """R1 penalty ``||grad_x D(x)||_2^2`` on real images.

    Args:
        discriminator: a callable mapping images to logits.
        real: real images ``(batch, H, W, C)``.
        training: passed to the discriminator.
        loss_scale: None, or the loss scale of the inner gradient of a float16
            discriminator (as in :func:`gradient_penalty`).

    Returns:
        Per-example penalty, ``(batch,)``, float32. The usual loss term is
        ``gamma / 2 * r1_penalty(...)``.

    References:
        Mescheder et al., "Which Training Methods for GANs do actually
        Converge?", ICML 2018.
    """
    real = tf.cast(real, tf.float32)
    grads = _input_gradient(discriminator, real, training, loss_scale)
    return _per_example_sq_norm(grads)


def path_lengths(synthesis, ws, y, loss_scale=None):
    """Per-example path lengths ``||J_w^T y||_2`` of a style-based generator.

    ``J_w`` is the Jacobian of the images with respect to the per-layer
    latents ``ws``; ``y`` is a random image (the caller draws it from
    ``N(0, 1)`` and divides by ``sqrt(H * W)``, as the official code does, so
    the lengths do not depend on the resolution). The gradient of
    ``sum(images * y)`` with respect to ``ws`` is ``J_w^T y``; its squared norm
    is summed over ``w_dim``, averaged over the ``num_ws`` layers, and
    square-rooted (the ADA reference code's ``loss.py``).

    Float32 as the other penalties: ``ws`` is cast to float32 before the
    gradient is taken, the product with ``y`` is summed in float32, and under
    ``mixed_float16`` the inner gradient is loss-scaled by ``loss_scale``.

    Args:
        synthesis: a callable ``ws -> images`` (training mode, noise inputs
            bound by the caller); the gradient flows through it to its
            weights, and through ``ws`` to whatever made them.
        ws: ``(batch, num_ws, w_dim)`` latents.
        y: ``(batch, H, W, C)`` random images, already scaled.
        loss_scale: None, or the loss scale of a float16 generator.

    Returns:
        ``(batch,)`` float32 path lengths.

    References:
        Karras et al., "Analyzing and Improving the Image Quality of
        StyleGAN", CVPR 2020, section 3.2, equation 4.
    """
    ws = tf.cast(ws, tf.float32)
    y = tf.cast(y, tf.float32)
    scale = None
    if loss_scale is not None:
        scale = tf.stop_gradient(tf.cast(tf.convert_to_tensor(loss_scale), tf.float32))
    with tf.GradientTape() as tape:
        tape.watch(ws)
        images = tf.cast(synthesis(ws), tf.float32)
        total = tf.reduce_sum(images * y)
        if scale is not None:
            total = total * scale
    grads = tf.cast(tape.gradient(total, ws), tf.float32)
    if scale is not None:
        grads = grads / scale
    return tf.sqrt(tf.reduce_mean(tf.reduce_sum(tf.square(grads), axis=2), axis=1))


def path_length_penalty(lengths, pl_mean):
    """Path-length penalty ``(||J_w^T y||_2 - a)^2`` per example.

    ``a`` is the running mean of the path lengths (``pl_mean``, updated by the
    caller with decay 0.01 before the call, as in the official code); it is a
    constant here (``stop_gradient``). The usual loss term is
    ``pl_weight * path_length_penalty(...)`` with ``pl_weight = 2``.

    Args:
        lengths: ``(batch,)`` path lengths from :func:`path_lengths`.
        pl_mean: scalar target ``a``.

    Returns:
        ``(batch,)`` float32 penalty.

    References:
        Karras et al., CVPR 2020, equation 4.
    """
    target = tf.stop_gradient(tf.cast(pl_mean, tf.float32))
    return tf.square(tf.cast(lengths, tf.float32) - target)
