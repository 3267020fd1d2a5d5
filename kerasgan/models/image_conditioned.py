"""Pieces the image-conditioned families share (Pix2Pix, CycleGAN, SRGAN).

The kind itself, :class:`ImageConditionedGAN` (a generator that takes an image
instead of a latent, ``(inputs, targets)`` data batches, ``translate`` and
triplet grids), lives in :mod:`kerasgan.core.image_to_image` and is re-exported
here; this module keeps the families' shape validator and the triplet PNG."""

from kerasgan.core.image_to_image import ImageConditionedGAN, _as_channels, _verb  # noqa: F401
from kerasgan.utils import check_image_shape


def validate_shape(shape, what):
    """An ``(H, W, C)`` shape with C in 1, 3, 4, as a tuple of ints (:func:`kerasgan.utils.check_image_shape`)."""
    return check_image_shape(shape, what)


def triplet_png(gan, inputs, targets, path, scale=1):
    """Writes a grid of (input, output, target) rows to ``path``; returns it."""
    from kerasgan.images import save_grid

    images, nrow = gan.triplets(inputs, targets)
    return save_grid(images, path, nrow=nrow, scale=scale)


__all__ = ["ImageConditionedGAN", "triplet_png", "validate_shape"]
