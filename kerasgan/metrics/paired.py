"""Paired-image quality: PSNR and SSIM of translated images against their targets.

For paired image-to-image families: every test pair's output is compared
with its target, both quantised to uint8 first (what a saved image holds), with
``tf.image.psnr`` and ``tf.image.ssim`` (``max_val=255``, SSIM's 11x11
Gaussian window, sigma 1.5, on RGB); the scores are means over the pairs.

Trivial baselines put the numbers in context: ``bicubic`` for
super-resolution (the low-res input up-sampled bicubically), ``input`` (the output is the
input image itself, e.g. the label map for facades label → photo) and
``mean`` (every output is the pixel-wise mean target image of the training
split).

Example:
    >>> test = kerasgan.data.open_paired("facades", split="test", direction="BtoA",
    ...                                  resize=128)
    >>> kerasgan.metrics.paired.paired_scores(gan, test)
    {'psnr': 13.1, 'ssim': 0.27, 'num_pairs': 106, ...}
"""

import numpy as np
import tensorflow as tf

PAIRED_METRICS = ("psnr", "ssim")


def _uint8(images):
    images = np.asarray(images, dtype="float32")
    return np.clip(np.rint((images + 1.0) * 127.5), 0, 255).astype("uint8")


def image_scores(outputs, targets):
    """Per-image PSNR (dB) and SSIM of ``outputs`` against ``targets``.

    Args:
        outputs: float images in [-1, 1] or uint8, NHWC.
        targets: the same shape.

    Returns:
        ``(psnr, ssim)``: float64 arrays ``(N,)``.

    Raises:
        ValueError: the shapes differ.
    """
    outputs, targets = np.asarray(outputs), np.asarray(targets)
    if outputs.shape != targets.shape:
        raise ValueError(f"outputs {outputs.shape} and targets {targets.shape} differ in shape")
    if outputs.dtype != np.uint8:
        outputs = _uint8(outputs)
    if targets.dtype != np.uint8:
        targets = _uint8(targets)
    a = tf.constant(outputs.astype("float32"))
    b = tf.constant(targets.astype("float32"))
    psnr = tf.image.psnr(a, b, max_val=255.0).numpy().astype("float64")
    ssim = tf.image.ssim(a, b, max_val=255.0).numpy().astype("float64")
    # identical images: PSNR is infinite; cap it at 100 dB so means stay finite
    return np.minimum(psnr, 100.0), ssim


def paired_scores(model, source, batch_size=16):
    """PSNR and SSIM of ``model``'s translations of ``source``'s inputs.

    Args:
        model: an image-conditioned GAN (its ``translate``), or a callable
            ``inputs -> outputs`` on float32 NHWC batches in [-1, 1].
        source: a :class:`kerasgan.data.PairedImageSource` (e.g. the test split).
        batch_size: pairs per forward pass.

    Returns:
        ``{"psnr", "ssim", "psnr_std", "ssim_std", "num_pairs"}``.
    """
    translate = getattr(model, "translate", model)
    psnr, ssim = [], []
    for start in range(0, len(source), batch_size):
        inputs, targets = source.arrays(start, start + batch_size)
        p, s = image_scores(np.asarray(translate(inputs)), targets)
        psnr.append(p)
        ssim.append(s)
    psnr, ssim = np.concatenate(psnr), np.concatenate(ssim)
    return {"psnr": float(psnr.mean()), "ssim": float(ssim.mean()),
            "psnr_std": float(psnr.std()), "ssim_std": float(ssim.std()),
            "num_pairs": int(len(psnr))}


def baseline_scores(source, train_source=None):
    """PSNR and SSIM of trivial translations of ``source``: ``"bicubic"`` for
    a super-resolution source (its low-res inputs up-sampled by
    :func:`kerasgan.data.bicubic_upscale`), ``"input"`` (the
    input image as the output; its size and channels must match the
    target's) and, with
    ``train_source``, ``"mean"`` (the mean training target for every pair).

    Returns:
        ``{baseline name: scores as paired_scores returns them}``.
    """
    out = {}
    scale = getattr(source, "scale", None)
    if scale:  # super-resolution: the bicubic up-sampling of the low-res input
        from kerasgan.data.super_resolution import bicubic_upscale

        out["bicubic"] = paired_scores(lambda x: bicubic_upscale(x, scale), source)
    if source.image_shape == source.target_shape:
        out["input"] = paired_scores(lambda x: x, source)
    if train_source is not None:
        _, train_targets = train_source.arrays()
        mean = train_targets.mean(axis=0, keepdims=True)
        out["mean"] = paired_scores(lambda x: np.repeat(mean, len(x), axis=0), source)
    return out
