"""Differentiable augmentation of the discriminator's inputs: DiffAugment and ADA.

With little data the discriminator memorises the training set. Both standard
fixes augment *every* image the discriminator sees, real and generated, in the
discriminator's step and in the generator's, with transforms that are
differentiable, so the generator's gradient flows back through them:

- **DiffAugment** (Zhao et al. 2020, "Differentiable Augmentation for
  Data-Efficient GAN Training"): always-on ``color`` (brightness, saturation,
  contrast), ``translation`` (up to 1/8 of the image, zero fill) and
  ``cutout`` (a square of half the image side set to 0), combinable:
  ``"diffaugment:color,translation,cutout"``.
- **ADA** (Karras et al. 2020, "Training Generative Adversarial Networks with
  Limited Data"): the geometric and colour pipeline ("bgc": x-flip, 90°
  rotations, integer translation, isotropic scaling, arbitrary rotation,
  anisotropic scaling, fractional translation, brightness, contrast, luma
  flip, hue rotation, saturation), each transform applied to each image with
  probability ``p``. ``p`` is adjusted from the over-fitting signal
  ``r_t = E[sign(D(real))]`` towards a target (0.6): every ``interval`` steps
  it moves by ``sign(r_t - target) * images / speed`` (``speed`` = 500,000
  images: ``p`` can move by 1 over 500k images, the paper's speed); or ``p``
  is fixed (``"ada:p=0.3"``).

Spec strings (the ``augment`` argument of every image family and ``kerasgan
train --augment``)::

    diffaugment                       color,translation,cutout
    diffaugment:translation,cutout    a subset of the policies
    ada                               adaptive p, target 0.6
    ada:0.7  /  ada:target=0.7        adaptive p, another target
    ada:p=0.3                         fixed p
    ada:target=0.6,speed=100000,interval=4

Every random draw is made for the **global** batch from the model's
``SeedGenerator`` and each replica takes its rows (as the latents are), so a
``MirroredStrategy`` run over N replicas augments exactly as one device does.
The geometric transforms resample with bilinear interpolation and reflection at
the borders (the reference code also upsamples with a wavelet filter against
aliasing; this module does not). Everything is ``keras.ops`` arithmetic and
gathers: it compiles with XLA and runs in float32 under mixed precision.
"""

import dataclasses
import math

import keras
from keras import ops

from kerasgan.distribute import batch_layout, local_slice

__all__ = ["Augmentation", "parse", "POLICIES", "ADA_TARGET", "ADA_SPEED", "ADA_INTERVAL",
           "diff_augment", "ada_augment"]

#: DiffAugment's policies, in the order they are applied
POLICIES = ("color", "translation", "cutout")
#: ADA's default target of r_t, images for p to move by 1, and steps between adjustments
ADA_TARGET, ADA_SPEED, ADA_INTERVAL = 0.6, 500_000, 4

_FORMS = ("diffaugment[:color,translation,cutout]", "ada[:target]", "ada:p=P")


def _bad(spec, why):
    return ValueError(f"augment {spec!r}: {why}; use one of {', '.join(_FORMS)} "
                      "(docs/augmentation.md)")


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """A parsed augmentation spec (see the module docstring).

    Attributes:
        kind: ``"diffaugment"`` or ``"ada"``.
        policies: DiffAugment's policies.
        target: ADA's target of ``r_t`` (None for a fixed ``p``).
        p: ADA's fixed probability, or its starting value when adaptive (0).
        speed: images over which an adaptive ``p`` can move by 1.
        interval: generator steps between two adjustments of ``p``.
    """

    kind: str
    policies: tuple = ()
    target: float = None
    p: float = 0.0
    speed: int = ADA_SPEED
    interval: int = ADA_INTERVAL

    @property
    def adaptive(self):
        return self.kind == "ada" and self.target is not None

    @property
    def spec(self):
        """The canonical spec string (what configs and run records store)."""
        if self.kind == "diffaugment":
            return "diffaugment:" + ",".join(self.policies)
        if not self.adaptive:
            return f"ada:p={self.p:g}"
        extra = ""
        if self.speed != ADA_SPEED:
            extra += f",speed={self.speed}"
        if self.interval != ADA_INTERVAL:
            extra += f",interval={self.interval}"
        return f"ada:target={self.target:g}{extra}"

    def __call__(self, images, seed_generator, p=None, layout=None):
        """``images`` (this replica's NHWC batch, in [-1, 1]) augmented.

        Args:
            images: float tensor ``(local_batch, H, W, C)``.
            seed_generator: the model's ``keras.random.SeedGenerator``.
            p: ADA's probability (a scalar tensor or float); DiffAugment
                ignores it.
            layout: ``(offset, global_batch)`` of this replica's rows
                (:func:`kerasgan.distribute.batch_layout`); None: computed
                here (an all-reduce, which must not run inside a
                conditional branch under a strategy).
        """
        if self.kind == "diffaugment":
            return diff_augment(images, self.policies, seed_generator, layout=layout)
        return ada_augment(images, self.p if p is None else p, seed_generator, layout=layout)


def parse(spec):
    """An :class:`Augmentation` from a spec string (None or ``""``/``"none"``:
    None; an :class:`Augmentation`: itself).

    Raises:
        ValueError: one line naming the bad part and the accepted forms.
    """
    if spec is None or isinstance(spec, Augmentation):
        return spec
    if not isinstance(spec, str):
        raise _bad(spec, "must be a string")
    text = spec.strip().lower()
    if text in ("", "none", "off"):
        return None
    kind, _, rest = text.partition(":")
    if kind == "diffaugment":
        policies = tuple(p.strip() for p in rest.split(",") if p.strip()) if rest else POLICIES
        unknown = [p for p in policies if p not in POLICIES]
        if unknown:
            raise _bad(spec, f"unknown DiffAugment policy {unknown[0]!r} (policies: "
                             f"{', '.join(POLICIES)})")
        if len(set(policies)) != len(policies):
            raise _bad(spec, "a policy is named twice")
        return Augmentation("diffaugment", policies=tuple(p for p in POLICIES if p in policies))
    if kind != "ada":
        raise _bad(spec, f"unknown kind {kind!r}")
    values = {"target": ADA_TARGET}
    for i, part in enumerate(p.strip() for p in rest.split(",") if p.strip()):
        key, eq, value = part.partition("=")
        if not eq:
            if i:
                raise _bad(spec, f"{part!r} needs a name (target=, p=, speed=, interval=)")
            key, value = "target", part
        if key not in ("target", "p", "speed", "interval"):
            raise _bad(spec, f"unknown ADA setting {key!r}")
        try:
            number = float(value)
        except ValueError:
            raise _bad(spec, f"{key} must be a number, got {value!r}") from None
        if not math.isfinite(number):
            raise _bad(spec, f"{key} must be finite")
        values[key] = number
    if "p" in values:
        if "target" in rest:
            raise _bad(spec, "give either a fixed p or a target, not both")
        if not 0.0 <= values["p"] <= 1.0:
            raise _bad(spec, f"p must be in [0, 1], got {values['p']:g}")
        return Augmentation("ada", target=None, p=float(values["p"]))
    if not 0.0 < values["target"] < 1.0:
        raise _bad(spec, f"target must be in (0, 1), got {values['target']:g}")
    speed, interval = values.get("speed", ADA_SPEED), values.get("interval", ADA_INTERVAL)
    if speed <= 0 or speed != int(speed):
        raise _bad(spec, f"speed must be a positive number of images, got {speed:g}")
    if interval < 1 or interval != int(interval):
        raise _bad(spec, f"interval must be a positive number of steps, got {interval:g}")
    return Augmentation("ada", target=float(values["target"]), p=0.0, speed=int(speed),
                        interval=int(interval))


# ------------------------------------------------------------------ draws
class _Draws:
    """Random draws for the global batch, sliced to this replica's rows."""

    def __init__(self, images, seed_generator, layout=None):
        self.local = ops.shape(images)[0]
        self.offset, self.total = batch_layout(self.local) if layout is None else layout
        self.seed = seed_generator

    def uniform(self, *shape):
        value = keras.random.uniform((self.total, *shape), seed=self.seed)
        return local_slice(value, self.offset, self.local)

    def normal(self, *shape):
        value = keras.random.normal((self.total, *shape), seed=self.seed)
        return local_slice(value, self.offset, self.local)


def _sample(images, src_y, src_x, fill):
    """``images`` resampled at source pixel coordinates ``(src_y, src_x)`` (each
    ``(B, H, W)``) with bilinear interpolation; outside the image: ``"zeros"``
    or ``"reflect"``. Differentiable with respect to ``images``."""
    _, height, width, channels = images.shape
    batch = ops.shape(images)[0]
    if fill == "reflect":
        src_y = _reflect(src_y, height)
        src_x = _reflect(src_x, width)
    y0, x0 = ops.floor(src_y), ops.floor(src_x)
    wy, wx = src_y - y0, src_x - x0
    flat = ops.reshape(images, (-1, channels))
    base = ops.reshape(ops.arange(batch, dtype="int32") * (height * width), (-1, 1, 1))
    out = 0.0
    for dy, dx, weight in ((0, 0, (1 - wy) * (1 - wx)), (0, 1, (1 - wy) * wx),
                           (1, 0, wy * (1 - wx)), (1, 1, wy * wx)):
        yi, xi = y0 + dy, x0 + dx
        inside = ((yi >= 0) & (yi <= height - 1) & (xi >= 0) & (xi <= width - 1))
        yi = ops.cast(ops.clip(yi, 0, height - 1), "int32")
        xi = ops.cast(ops.clip(xi, 0, width - 1), "int32")
        index = ops.reshape(base + yi * width + xi, (-1,))
        taps = ops.reshape(ops.take(flat, index, axis=0), (batch, height, width, channels))
        weight = weight * ops.cast(inside, weight.dtype)
        out = out + taps * weight[..., None]
    return out


def _reflect(coord, size):
    """Coordinates mirrored into ``[0, size - 1]`` (reflection without repeating the edge)."""
    if size == 1:
        return ops.zeros_like(coord)
    period = 2.0 * (size - 1)
    return (size - 1) - ops.abs(ops.mod(coord, period) - (size - 1))


def _grid(images):
    """Pixel-centre coordinates ``(y, x)``, each ``(1, H, W)``, relative to the image centre."""
    _, height, width, _ = images.shape
    ys = ops.arange(height, dtype="float32") - (height - 1) / 2.0
    xs = ops.arange(width, dtype="float32") - (width - 1) / 2.0
    y, x = ops.meshgrid(ys, xs, indexing="ij")
    return y[None], x[None]


# ------------------------------------------------------------ DiffAugment
def diff_augment(images, policies, seed_generator, layout=None):
    """DiffAugment (Zhao et al. 2020) of ``images`` with ``policies``, applied
    to every image (the reference implementation's ranges)."""
    images = ops.cast(images, "float32")
    draws = _Draws(images, seed_generator, layout)
    _, height, width, _ = images.shape
    if "color" in policies:
        brightness = draws.uniform(1, 1, 1) - 0.5
        images = images + brightness
        images = _saturate(images, draws.uniform(1, 1, 1) * 2.0)
        mean = ops.mean(images, axis=(1, 2, 3), keepdims=True)
        images = (images - mean) * (draws.uniform(1, 1, 1) + 0.5) + mean
    if "translation" in policies:
        shift_y, shift_x = int(height * 0.125 + 0.5), int(width * 0.125 + 0.5)
        u = draws.uniform(2)
        ty = ops.floor(u[:, 0] * (2 * shift_y + 1)) - shift_y
        tx = ops.floor(u[:, 1] * (2 * shift_x + 1)) - shift_x
        rows = ops.arange(height, dtype="float32")[None, :, None]
        cols = ops.arange(width, dtype="float32")[None, None, :]
        src_y = ops.broadcast_to(rows - ty[:, None, None], (draws.local, height, width))
        src_x = ops.broadcast_to(cols - tx[:, None, None], (draws.local, height, width))
        images = _sample(images, src_y, src_x, "zeros")
    if "cutout" in policies:
        size_y, size_x = int(height * 0.5 + 0.5), int(width * 0.5 + 0.5)
        u = draws.uniform(2)
        cy = ops.floor(u[:, 0] * (height + (1 - size_y % 2))) - size_y // 2
        cx = ops.floor(u[:, 1] * (width + (1 - size_x % 2))) - size_x // 2
        rows = ops.arange(height, dtype="float32")[None, :, None]
        cols = ops.arange(width, dtype="float32")[None, None, :]
        inside = ((rows >= cy[:, None, None]) & (rows < cy[:, None, None] + size_y)
                  & (cols >= cx[:, None, None]) & (cols < cx[:, None, None] + size_x))
        images = images * (1.0 - ops.cast(inside, "float32"))[..., None]
    return images


def _saturate(images, factor):
    """Saturation scaled by ``factor`` ``(B, 1, 1, 1)``: each pixel's distance from
    its channel mean, per group of three channels (RGB; the two images of a
    paired discriminator's input each on their own)."""
    channels = images.shape[-1]
    if channels % 3 or channels == 3:
        mean = ops.mean(images, axis=-1, keepdims=True)
        return (images - mean) * factor + mean
    grouped = ops.reshape(images, (-1, *images.shape[1:3], channels // 3, 3))
    mean = ops.mean(grouped, axis=-1, keepdims=True)
    out = (grouped - mean) * factor[..., None] + mean
    return ops.reshape(out, (-1, *images.shape[1:]))


# ------------------------------------------------------------------- ADA
def _gate(draws, p, value, identity):
    """``value`` where a uniform draw is below ``p``, else ``identity`` (per image)."""
    keep = draws.uniform() < p
    return ops.where(keep, value, identity)


def _mat3(rows):
    """``(B, 3, 3)`` from nine ``(B,)`` entries (row-major)."""
    return ops.reshape(ops.stack(rows, axis=-1), (-1, 3, 3))


def _rotation2(theta):
    c, s = ops.cos(theta), ops.sin(theta)
    zero, one = ops.zeros_like(theta), ops.ones_like(theta)
    return _mat3([c, -s, zero, s, c, zero, zero, zero, one])


def _scale2(sx, sy):
    zero, one = ops.zeros_like(sx), ops.ones_like(sx)
    return _mat3([sx, zero, zero, zero, sy, zero, zero, zero, one])


def _translate2(tx, ty):
    zero, one = ops.zeros_like(tx), ops.ones_like(tx)
    return _mat3([one, zero, tx, zero, one, ty, zero, zero, one])


def ada_augment(images, p, seed_generator, layout=None):
    """ADA's "bgc" pipeline (Karras et al. 2020) of ``images``: each transform
    applied to each image with probability ``p`` (the rotation, applied twice
    around the anisotropic scaling, with ``1 - sqrt(1 - p)``), with the paper's
    ranges. ``p = 0`` gives ``images`` back unchanged."""
    images = ops.cast(images, "float32")
    p = ops.cast(p, "float32")
    draws = _Draws(images, seed_generator, layout)
    _, height, width, channels = images.shape
    one = ops.ones((draws.local,), "float32")
    zero = ops.zeros((draws.local,), "float32")
    # geometric: the matrix maps output pixel coordinates to source coordinates
    flip = _gate(draws, p, ops.floor(draws.uniform() * 2), zero)
    g = _scale2(1.0 - 2.0 * flip, one)
    quarter = _gate(draws, p, ops.floor(draws.uniform() * 4), zero)
    g = g @ _rotation2(quarter * (math.pi / 2))
    t = (draws.uniform(2) * 2.0 - 1.0) * 0.125
    keep = draws.uniform() < p  # one draw gates both axes of a translation
    g = g @ _translate2(ops.where(keep, ops.round(t[:, 0] * width), zero),
                        ops.where(keep, ops.round(t[:, 1] * height), zero))
    s = _gate(draws, p, ops.power(2.0, draws.normal() * 0.2), one)
    g = g @ _scale2(s, s)
    p_rot = 1.0 - ops.sqrt(ops.maximum(1.0 - p, 0.0))
    g = g @ _rotation2(_gate(draws, p_rot, (draws.uniform() * 2.0 - 1.0) * math.pi, zero))
    s = _gate(draws, p, ops.power(2.0, draws.normal() * 0.2), one)
    g = g @ _scale2(s, 1.0 / s)
    g = g @ _rotation2(_gate(draws, p_rot, (draws.uniform() * 2.0 - 1.0) * math.pi, zero))
    t = draws.normal(2) * 0.125
    keep = draws.uniform() < p
    g = g @ _translate2(ops.where(keep, t[:, 0] * width, zero),
                        ops.where(keep, t[:, 1] * height, zero))
    y, x = _grid(images)
    src_x = g[:, 0, 0, None, None] * x + g[:, 0, 1, None, None] * y + g[:, 0, 2, None, None]
    src_y = g[:, 1, 0, None, None] * x + g[:, 1, 1, None, None] * y + g[:, 1, 2, None, None]
    moved = _sample(images, src_y + (height - 1) / 2.0, src_x + (width - 1) / 2.0, "reflect")
    # an image no geometric transform touched is returned exactly (no resampling error)
    identity = ops.all(ops.abs(ops.reshape(g, (-1, 9)) - ops.reshape(ops.eye(3), (1, 9))) < 1e-7,
                       axis=-1)
    images = ops.where(identity[:, None, None, None], images, moved)
    return _color(images, p, draws, channels)


def _color(images, p, draws, channels):
    """ADA's colour transforms as one 4×4 affine matrix per image on RGB (each
    group of three channels), the mean of its 3×3 part on other channel counts
    (a single channel: brightness and contrast)."""
    n = draws.local
    eye = ops.broadcast_to(ops.eye(4)[None], (n, 4, 4))
    luma = ops.convert_to_tensor([1.0, 1.0, 1.0, 0.0]) / math.sqrt(3.0)
    outer = ops.reshape(luma, (4, 1)) * ops.reshape(luma, (1, 4))
    b = _gate(draws, p, draws.normal() * 0.2, ops.zeros((n,)))
    shift = ops.concatenate([ops.zeros((n, 3, 3)), ops.stack([b, b, b], -1)[..., None]], -1)
    c = eye + ops.concatenate([shift, ops.zeros((n, 1, 4))], 1)
    k = _gate(draws, p, ops.power(2.0, draws.normal() * 0.5), ops.ones((n,)))
    scale = ops.stack([k, k, k, ops.ones((n,))], -1)
    c = c * scale[:, :, None]  # scale3d(k) @ c: scales the first three rows
    if channels % 3 == 0:
        flip = _gate(draws, p, ops.floor(draws.uniform() * 2), ops.zeros((n,)))
        c = (eye - 2.0 * outer[None] * flip[:, None, None]) @ c
        theta = _gate(draws, p, (draws.uniform() * 2.0 - 1.0) * math.pi, ops.zeros((n,)))
        c = _hue(theta, outer) @ c
        sat = _gate(draws, p, ops.power(2.0, draws.normal() * 1.0), ops.ones((n,)))
        c = (outer[None] + (ops.eye(4)[None] - outer[None]) * sat[:, None, None]) @ c
        matrix = c[:, :3, :3]
        offset = c[:, :3, 3]
        # the same matrix on each group of three channels (the two RGB images
        # of a paired discriminator's input get the same transform)
        grouped = ops.reshape(images, (-1, *images.shape[1:3], channels // 3, 3))
        out = (ops.einsum("bhwgc,bdc->bhwgd", grouped, matrix)
               + offset[:, None, None, None, :])
        return ops.reshape(out, (-1, *images.shape[1:]))
    matrix = ops.mean(c[:, :3, :3], axis=(1, 2))
    offset = ops.mean(c[:, :3, 3], axis=1)
    return images * matrix[:, None, None, None] + offset[:, None, None, None]


def _hue(theta, outer):
    """Rotations by ``theta`` (``(B,)``) around the luma axis, as 4×4 matrices."""
    cross = ops.convert_to_tensor([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]])
    cross = cross / math.sqrt(3.0)  # the cross-product matrix [v]_x of the unit luma axis
    c, s = ops.cos(theta)[:, None, None], ops.sin(theta)[:, None, None]
    rot3 = c * ops.eye(3)[None] + s * cross[None] + (1.0 - c) * outer[None, :3, :3]
    top = ops.concatenate([rot3, ops.zeros_like(rot3[:, :, :1])], -1)
    bottom = ops.broadcast_to(ops.convert_to_tensor([[0.0, 0.0, 0.0, 1.0]])[None],
                              (ops.shape(theta)[0], 1, 4))
    return ops.concatenate([top, bottom], 1)
