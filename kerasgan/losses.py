"""Paired adversarial losses.

Every loss comes as a pair, ``<name>_generator_loss(fake_logits)`` and
``<name>_discriminator_loss(real_logits, fake_logits)``, in the style of TF-GAN.
Each returns a **per-example** loss of shape ``(batch,)``: any further axes of the
logits (a PatchGAN map, say) are averaged away, the batch axis is kept. The GAN
training step, not the loss, reduces over the batch, so that it can divide by the
*global* batch size under ``tf.distribute`` (N replicas give the same update as one
device on the same global batch).

All losses take raw discriminator outputs ("logits"), never probabilities, and are
written with ``keras.ops`` so they run on any Keras backend.

| name             | discriminator                        | generator            |
|------------------|--------------------------------------|----------------------|
| `minimax`        | softplus(-r) + softplus(f)           | -softplus(f)         |
| `non_saturating` | softplus(-r) + softplus(f)           | softplus(-f)         |
| `hinge`          | relu(1 - r) + relu(1 + f)            | -f                   |
| `wasserstein`    | f - r                                | -f                   |
| `least_squares`  | ((r - 1)^2 + f^2) / 2                | (f - 1)^2 / 2        |

(`softplus(-x) = -log(sigmoid(x))`, `softplus(x) = -log(1 - sigmoid(x))`.)

References:
    Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014 (minimax,
    non-saturating). Lim & Ye, "Geometric GAN", 2017 (hinge). Arjovsky et al.,
    "Wasserstein GAN", ICML 2017. Mao et al., "Least Squares Generative
    Adversarial Networks", ICCV 2017 (a=0, b=1, c=1 coding).
"""

from keras import ops


def _per_example(values):
    """Averages all axes but the first: (batch, ...) -> (batch,)."""
    values = ops.convert_to_tensor(values)
    if len(values.shape) <= 1:
        return values
    return ops.mean(ops.reshape(values, (ops.shape(values)[0], -1)), axis=1)


def _float(x):
    x = ops.convert_to_tensor(x)
    # Losses are always computed in float32 (also under mixed precision).
    return ops.cast(x, "float32")


def minimax_generator_loss(fake_logits):
    """Original (saturating) minimax generator loss: ``log(1 - D(G(z)))``.

    Args:
        fake_logits: discriminator logits on generated samples, ``(batch, ...)``.

    Returns:
        Per-example loss, ``(batch,)``. Minimising it maximises D's error.
    """
    return _per_example(-ops.softplus(_float(fake_logits)))


def minimax_discriminator_loss(real_logits, fake_logits):
    """Binary cross-entropy discriminator loss, real labelled 1 and fake 0.

    Args:
        real_logits: logits on real samples, ``(batch, ...)``.
        fake_logits: logits on generated samples, same shape.

    Returns:
        Per-example loss ``-log D(x) - log(1 - D(G(z)))``, ``(batch,)``.
    """
    return _per_example(ops.softplus(-_float(real_logits))) + _per_example(
        ops.softplus(_float(fake_logits))
    )


def non_saturating_generator_loss(fake_logits):
    """Non-saturating generator loss ``-log D(G(z))`` (Goodfellow et al. 2014).

    Args:
        fake_logits: logits on generated samples, ``(batch, ...)``.

    Returns:
        Per-example loss, ``(batch,)``.
    """
    return _per_example(ops.softplus(-_float(fake_logits)))


non_saturating_discriminator_loss = minimax_discriminator_loss


def hinge_generator_loss(fake_logits):
    """Hinge generator loss ``-D(G(z))`` (Lim & Ye 2017; Miyato et al. 2018)."""
    return _per_example(-_float(fake_logits))


def hinge_discriminator_loss(real_logits, fake_logits):
    """Hinge discriminator loss ``relu(1 - D(x)) + relu(1 + D(G(z)))``."""
    return _per_example(ops.relu(1.0 - _float(real_logits))) + _per_example(
        ops.relu(1.0 + _float(fake_logits))
    )


def wasserstein_generator_loss(fake_logits):
    """Wasserstein generator loss ``-D(G(z))`` (Arjovsky et al. 2017)."""
    return _per_example(-_float(fake_logits))


def wasserstein_discriminator_loss(real_logits, fake_logits):
    """Wasserstein critic loss ``D(G(z)) - D(x)``: minimising it maximises the
    estimated Wasserstein-1 distance. Pair it with a Lipschitz constraint
    (``kerasgan.penalties.gradient_penalty``)."""
    return _per_example(_float(fake_logits)) - _per_example(_float(real_logits))


def least_squares_generator_loss(fake_logits):
    """Least-squares generator loss ``(D(G(z)) - 1)^2 / 2`` (Mao et al. 2017)."""
    return _per_example(0.5 * ops.square(_float(fake_logits) - 1.0))


def least_squares_discriminator_loss(real_logits, fake_logits):
    """Least-squares discriminator loss ``((D(x) - 1)^2 + D(G(z))^2) / 2``."""
    return _per_example(0.5 * ops.square(_float(real_logits) - 1.0)) + _per_example(
        0.5 * ops.square(_float(fake_logits))
    )


_PAIRS = {
    "minimax": (minimax_generator_loss, minimax_discriminator_loss),
    "non_saturating": (non_saturating_generator_loss, non_saturating_discriminator_loss),
    "hinge": (hinge_generator_loss, hinge_discriminator_loss),
    "wasserstein": (wasserstein_generator_loss, wasserstein_discriminator_loss),
    "least_squares": (least_squares_generator_loss, least_squares_discriminator_loss),
}


def names():
    """Names of the built-in loss pairs."""
    return sorted(_PAIRS)


def get_pair(name):
    """Returns ``(generator_loss, discriminator_loss)`` for a loss name.

    Raises:
        ValueError: the name is not one of :func:`names`.
    """
    try:
        return _PAIRS[name]
    except KeyError:
        raise ValueError(
            f"unknown GAN loss {name!r}: use one of {', '.join(names())} "
            "or pass a callable"
        ) from None


def get(identifier, role):
    """Resolves a loss given by name or callable.

    Args:
        identifier: a loss name (see :func:`names`) or a callable returning
            per-example losses.
        role: ``"generator"`` or ``"discriminator"``.

    Returns:
        The callable.
    """
    if callable(identifier):
        return identifier
    if not isinstance(identifier, str):
        raise ValueError(
            f"a GAN loss must be a name or a callable, got {type(identifier).__name__}"
        )
    g, d = get_pair(identifier)
    return g if role == "generator" else d
