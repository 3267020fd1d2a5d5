"""PyTorch eager twins of three kerasgan training setups, for throughput comparisons.

Each twin rebuilds, layer for layer, the generator and discriminator of a
kerasgan family (same layer types, kernel sizes, strides, padding, channels,
biases, batch norm momentum/epsilon, activations, initialisers) and runs the
same training step as ``kerasgan.GAN.train_step``:

- ``d_steps`` discriminator updates on the same real batch, each with fresh
  ``z ~ N(0, 1)``; the fake batch is made by the generator in training mode
  outside the discriminator's gradient; real and fake go through the
  discriminator in two separate training-mode passes; spectral-norm layers do
  one power iteration per discriminator update, before its forward passes;
- then one generator update with a freshly drawn ``z``, both networks in
  training mode, gradients for the generator only;
- per-example losses averaged over the batch: non-saturating (``dcgan``),
  Wasserstein + 10 x gradient penalty on per-example interpolates
  ``eps * real + (1 - eps) * fake`` (``wgan_gp``), hinge (``sngan``);
- each family's default Adam optimizers (learning rates, betas, epsilon 1e-7).

``keras_trainable_counts`` and ``torch_trainable_counts`` give each network's
trainable parameter count; the self-check (``python benchmarks/torch_twins.py
[KEY ...] [--steps N] [--no-counts]``) asserts they are equal for all three
setups, then times 20 steps of each at batch 64 on 2 threads (sngan-32 takes
about 8 s a step there). With weights copied from the Keras models, the twins'
forward passes, penalty, losses and gradients agree with Keras' to float32
rounding (checked while writing them; not part of the self-check).

Known, deliberate differences (none changes the amount of work):

- Tensors are NCHW inside torch. Keras' ``Reshape`` after the projection and
  ``Flatten`` before the logit are NHWC-ordered; here they are NCHW-ordered,
  which is the same layer with its dense units permuted.
- Adam: torch adds epsilon to the bias-corrected ``sqrt(v_hat)``, Keras to
  the uncorrected ``sqrt(v)`` (an epsilon of 1e-7 either way).
- Batch norm running variance: torch stores the unbiased batch variance,
  Keras the biased one (training uses the batch statistics in both).
- ``eps`` for the gradient penalty is drawn only by ``wgan_gp`` (kerasgan
  draws it, unused, in every family's discriminator step).

API: ``build(family, seed=0) -> (step, batch_shape)``; ``step(real)`` runs one
generator step (with its discriminator steps) on an NCHW float32 batch in
[-1, 1]; ``batch_shape(batch_size)`` is the NCHW shape of such a batch.
"""

import math
import os
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

#: benchmark setups: key -> (kerasgan family, image shape (H, W, C))
FAMILIES = {
    "dcgan-28": ("dcgan", (28, 28, 1)),
    "wgan_gp-28": ("wgan_gp", (28, 28, 1)),
    "sngan-32": ("sngan", (32, 32, 3)),
}

# Training hyper-parameters of each family (kerasgan's defaults), and the memory
# format of the twin. channels_last was measured against plain NCHW at batch 64
# with 2 threads (torch 2.13 CPU, medians of interleaved runs): dcgan-28 ~820 vs
# ~690 img/s (channels_last kept), wgan_gp-28 ~139 vs ~136 (a tie: NCHW kept),
# sngan-32 ~7 vs ~8.4 (NCHW kept).
_KERAS_ADAM_EPSILON = 1e-7
_SETUPS = {
    # loss, latent_dim, d_steps, gp_weight, (g lr, betas), (d lr, betas)
    "dcgan": dict(loss="non_saturating", latent_dim=100, d_steps=1, gp_weight=0.0,
                  g_opt=(2e-4, (0.5, 0.999)), d_opt=(2e-4, (0.5, 0.999)), channels_last=True),
    "wgan_gp": dict(loss="wasserstein", latent_dim=100, d_steps=5, gp_weight=10.0,
                    g_opt=(1e-4, (0.0, 0.9)), d_opt=(1e-4, (0.0, 0.9)), channels_last=False),
    "sngan": dict(loss="hinge", latent_dim=128, d_steps=1, gp_weight=0.0,
                  g_opt=(1e-4, (0.0, 0.9)), d_opt=(4e-4, (0.0, 0.9)), channels_last=False),
}



def _resolve(family, image_shape=None):
    """``(family, image_shape)`` from a FAMILIES key or a family name."""
    if family in FAMILIES:
        name, shape = FAMILIES[family]
        return name, tuple(image_shape or shape)
    if family not in _SETUPS:
        raise ValueError(f"unknown family {family!r}: use one of {sorted(FAMILIES)} or "
                         f"{sorted(_SETUPS)}")
    default = (32, 32, 3) if family == "sngan" else (28, 28, 1)
    return family, tuple(image_shape or default)


def _upsampling_plan(image_shape):
    """kerasgan.models.dcgan.upsampling_plan: start size and number of doublings."""
    h, w, _ = image_shape
    steps = 0
    while h % 2 == 0 and w % 2 == 0 and h // 2 >= 4 and w // 2 >= 4:
        h, w, steps = h // 2, w // 2, steps + 1
    if steps == 0:
        raise ValueError(f"image size {image_shape[:2]} cannot be built by stride-2 upsampling")
    return (h, w), steps


# ---------------------------------------------------------------------- layers
def _batch_norm(features, dims=2):
    # Keras BatchNormalization(momentum=0.9, epsilon=1e-5): torch momentum 1 - 0.9
    cls = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
    return cls(features, eps=1e-5, momentum=0.1)


def _dcgan_init(module):
    # DCGAN: every kernel N(0, 0.02), biases zero (Keras' default bias init);
    # batch norm gamma 1, beta 0 (both frameworks' default).
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def _glorot_init(module):
    # Keras' defaults for Dense/Conv2D (and the SN layers): glorot_uniform kernel,
    # zero bias. torch's xavier fans of an (out, in, kh, kw) weight equal Keras'.
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def _normalize(x, eps):
    return x / torch.clamp(torch.linalg.vector_norm(x), min=eps)


class _SpectralNorm:
    """kerasgan's spectral normalisation as a reparametrisation: the raw weight
    is trainable; the forward pass uses ``W / sigma`` with ``sigma = u^T W_mat v``
    and ``u``, ``v`` stored buffers (non-trainable, as Keras' ``sn_u``, ``sn_v``);
    :meth:`power_iteration` (once per discriminator update) updates them.

    Keras' ``W_mat`` is ``(kh * kw * in, out)``; torch's ``weight.reshape(out, -1)``
    is its transpose up to a permutation of the rows, which leaves the singular
    values unchanged. ``u`` has ``kh * kw * in`` entries and ``v`` ``out``, as in
    Keras.
    """

    sn_eps = 1e-12

    def _sn_setup(self):
        w = self.weight.detach().reshape(self.weight.shape[0], -1)  # (out, rows)
        u = _normalize(torch.randn(w.shape[1]), self.sn_eps)
        for _ in range(15):  # INITIAL_POWER_ITERATIONS
            v = _normalize(w @ u, self.sn_eps)
            u = _normalize(w.t() @ v, self.sn_eps)
        self.register_buffer("sn_u", u)
        self.register_buffer("sn_v", _normalize(w @ u, self.sn_eps))

    @torch.no_grad()
    def power_iteration(self):
        w = self.weight.reshape(self.weight.shape[0], -1)
        v = _normalize(w @ self.sn_u, self.sn_eps)   # normalize(W_mat^T u)
        u = _normalize(w.t() @ v, self.sn_eps)       # normalize(W_mat v)
        self.sn_u.copy_(u)
        self.sn_v.copy_(v)

    def normalized_weight(self):
        w = self.weight
        sigma = torch.dot(self.sn_v, w.reshape(w.shape[0], -1) @ self.sn_u)
        return w / sigma


class SNConv2d(_SpectralNorm, nn.Conv2d):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _glorot_init(self)
        self._sn_setup()

    def forward(self, x):
        return self._conv_forward(x, self.normalized_weight(), self.bias)


class SNLinear(_SpectralNorm, nn.Linear):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _glorot_init(self)
        self._sn_setup()

    def forward(self, x):
        return F.linear(x, self.normalized_weight(), self.bias)


def power_iterate(model):
    for m in model.modules():
        if isinstance(m, _SpectralNorm):
            m.power_iteration()


# -------------------------------------------------------------------- DCGAN
class _Generator(nn.Module):
    #: reshape the projection to torch.channels_last (set by ``build``)
    channels_last = False


class DCGANGenerator(_Generator):
    """kerasgan.models.dcgan.build_generator (normalization="batch").

    Dense(no bias) -> BN -> ReLU -> reshape -> [ConvT 4x4/2 "same" (no bias) ->
    BN -> ReLU] * (steps - 1) -> ConvT 4x4/2 "same" (bias) -> tanh. Keras'
    "same" transposed convolution with k=4, s=2 pads 1 on each side: torch
    padding=1, output_padding=0 gives exactly 2x the input size.
    """

    def __init__(self, image_shape, latent_dim=100, width=64):
        super().__init__()
        (h0, w0), steps = _upsampling_plan(image_shape)
        c0 = width * 2 ** (steps - 1)
        self.start = (c0, h0, w0)
        self.project = nn.Linear(latent_dim, h0 * w0 * c0, bias=False)
        self.project_bn = _batch_norm(h0 * w0 * c0, dims=1)
        ups, cin = [], c0
        for i in range(steps - 1):
            filters = width * 2 ** (steps - 2 - i)
            ups += [nn.ConvTranspose2d(cin, filters, 4, stride=2, padding=1, bias=False),
                    _batch_norm(filters), nn.ReLU()]
            cin = filters
        ups += [nn.ConvTranspose2d(cin, image_shape[-1], 4, stride=2, padding=1, bias=True),
                nn.Tanh()]
        self.ups = nn.Sequential(*ups)
        _dcgan_init(self)

    def forward(self, z):
        x = F.relu(self.project_bn(self.project(z)))
        x = x.view(-1, *self.start)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.ups(x)


class DCGANDiscriminator(nn.Module):
    """kerasgan.models.dcgan.build_discriminator.

    [Conv 4x4/2 "same" -> (BN) -> LeakyReLU(0.2)] * steps -> flatten ->
    Dense(1). No norm on the first layer; ``normalization="batch"`` (dcgan):
    BN and no conv bias on the others; ``"none"`` (wgan_gp): conv bias, no
    norm. Keras "same" with k=4, s=2 on an even size pads 1 on each side:
    torch padding=1.
    """

    def __init__(self, image_shape, width=64, normalization="batch"):
        super().__init__()
        _, steps = _upsampling_plan(image_shape)
        h, w, cin = image_shape
        layers = []
        for i in range(steps):
            filters = width * 2 ** i
            use_bn = i > 0 and normalization == "batch"
            layers.append(nn.Conv2d(cin, filters, 4, stride=2, padding=1, bias=not use_bn))
            if use_bn:
                layers.append(_batch_norm(filters))
            layers.append(nn.LeakyReLU(0.2))
            cin, h, w = filters, h // 2, w // 2
        layers.append(nn.Flatten())
        self.trunk = nn.Sequential(*layers)
        self.logits = nn.Linear(cin * h * w, 1)
        _dcgan_init(self)

    def forward(self, x):
        return self.logits(self.trunk(x))


# -------------------------------------------------------------------- SNGAN
class _GBlock(nn.Module):
    """sngan.generator_block (unconditional): BN-ReLU-up-conv3(no bias)-BN-ReLU-
    conv3, shortcut up-conv1; ``output_bias`` on conv2 and the shortcut conv."""

    def __init__(self, cin, filters, output_bias):
        super().__init__()
        self.sc_conv = nn.Conv2d(cin, filters, 1, bias=output_bias)
        self.bn1 = _batch_norm(cin)
        self.conv1 = nn.Conv2d(cin, filters, 3, padding=1, bias=False)
        self.bn2 = _batch_norm(filters)
        self.conv2 = nn.Conv2d(filters, filters, 3, padding=1, bias=output_bias)

    def forward(self, x):
        shortcut = self.sc_conv(F.interpolate(x, scale_factor=2, mode="nearest"))
        h = F.interpolate(F.relu(self.bn1(x)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h))))
        return h + shortcut


class SNGANGenerator(_Generator):
    """sngan.build_generator (num_classes=None): Dense(bias) -> reshape ->
    residual up blocks -> BN -> ReLU -> conv3 (bias) -> tanh."""

    def __init__(self, image_shape, latent_dim=128, width=256):
        super().__init__()
        (h0, w0), steps = _upsampling_plan(image_shape)
        self.start = (width, h0, w0)
        self.project = nn.Linear(latent_dim, h0 * w0 * width)
        self.blocks = nn.Sequential(*[_GBlock(width, width, output_bias=i < steps - 1)
                                      for i in range(steps)])
        self.out_bn = _batch_norm(width)
        self.to_image = nn.Conv2d(width, image_shape[-1], 3, padding=1)
        _glorot_init(self)

    def forward(self, z):
        x = self.project(z).view(-1, *self.start)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.blocks(x)
        return torch.tanh(self.to_image(F.relu(self.out_bn(x))))


class _DBlock(nn.Module):
    """sngan.discriminator_block: SN conv3 (bias) residual block, 2x2 average
    pooling when ``downsample``; the first block has no leading ReLU and pools
    its shortcut before the 1x1 SN conv; other blocks put the 1x1 SN conv (then
    the pooling) on the shortcut only where the shape changes."""

    def __init__(self, cin, filters, downsample, first):
        super().__init__()
        self.downsample, self.first = downsample, first
        self.conv1 = SNConv2d(cin, filters, 3, padding=1)
        self.conv2 = SNConv2d(filters, filters, 3, padding=1)
        learn_sc = first or downsample or cin != filters
        self.sc_conv = SNConv2d(cin, filters, 1) if learn_sc else None

    def forward(self, x):
        h = x if self.first else F.relu(x)
        h = self.conv2(F.relu(self.conv1(h)))
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        if self.first:
            shortcut = self.sc_conv(F.avg_pool2d(x, 2))
        elif self.sc_conv is not None:
            shortcut = self.sc_conv(x)
            if self.downsample:
                shortcut = F.avg_pool2d(shortcut, 2)
        else:
            shortcut = x
        return h + shortcut


class SNGANDiscriminator(nn.Module):
    """sngan.build_discriminator (num_classes=None): ``steps`` down blocks, two
    blocks at the lowest resolution, ReLU, global sum pooling, SN Dense(1)."""

    def __init__(self, image_shape, width=128):
        super().__init__()
        _, steps = _upsampling_plan(image_shape)
        blocks, cin = [], image_shape[-1]
        for i in range(steps):
            blocks.append(_DBlock(cin, width, downsample=True, first=i == 0))
            cin = width
        for _ in range(2):
            blocks.append(_DBlock(width, width, downsample=False, first=False))
        self.blocks = nn.Sequential(*blocks)
        self.psi = SNLinear(width, 1)

    def forward(self, x):
        phi = F.relu(self.blocks(x)).sum(dim=(2, 3))  # Keras: mean * (h0 * w0)
        return self.psi(phi)


# ------------------------------------------------------------------ builders
def build_networks(family, image_shape=None, g_width=None, d_width=None):
    """``(generator, discriminator)`` torch modules of a family (or FAMILIES key);
    ``g_width`` / ``d_width``: SNGAN's width options (default: kerasgan's)."""
    family, image_shape = _resolve(family, image_shape)
    if family == "dcgan":
        return DCGANGenerator(image_shape), DCGANDiscriminator(image_shape, normalization="batch")
    if family == "wgan_gp":  # DCGAN networks, critic without normalisation
        return DCGANGenerator(image_shape), DCGANDiscriminator(image_shape, normalization="none")
    return (SNGANGenerator(image_shape, **({"width": g_width} if g_width else {})),
            SNGANDiscriminator(image_shape, **({"width": d_width} if d_width else {})))


def _trainable(module):
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def torch_trainable_counts(family, image_shape=None, **widths):
    """``(generator, discriminator)`` trainable parameter counts of the twin."""
    g, d = build_networks(family, image_shape, **widths)
    return _trainable(g), _trainable(d)


def keras_trainable_counts(family, image_shape=None, **widths):
    """``(generator, discriminator)`` trainable parameter counts of the kerasgan
    model (``sum(prod(v.shape))`` over ``trainable_weights``)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import numpy as np

    import kerasgan

    family, image_shape = _resolve(family, image_shape)
    gan = kerasgan.models.get(family, image_shape=image_shape, seed=0, **widths)
    return tuple(int(sum(np.prod(v.shape) for v in m.trainable_weights))
                 for m in (gan.generator, gan.discriminator))


def _d_loss(loss, real_logits, fake_logits):
    if loss == "non_saturating":
        return F.softplus(-real_logits) + F.softplus(fake_logits)
    if loss == "hinge":
        return F.relu(1.0 - real_logits) + F.relu(1.0 + fake_logits)
    return fake_logits - real_logits  # wasserstein


def _g_loss(loss, fake_logits):
    if loss == "non_saturating":
        return F.softplus(-fake_logits)
    return -fake_logits  # hinge and wasserstein


def _gradient_penalty(d, real, fake, eps):
    """kerasgan.penalties.gradient_penalty: per-example ``(||grad D(x_hat)|| - 1)^2``."""
    x_hat = (eps * real + (1.0 - eps) * fake).requires_grad_(True)
    (grads,) = torch.autograd.grad(d(x_hat).sum(), x_hat, create_graph=True)
    norm = torch.sqrt(grads.square().flatten(1).sum(1) + 1e-12)
    return (norm - 1.0).square()


def _adam(params, lr, betas):
    # Keras Adam defaults: epsilon 1e-7, no weight decay, no amsgrad.
    return torch.optim.Adam(params, lr=lr, betas=betas, eps=_KERAS_ADAM_EPSILON, foreach=True)


def build(family, seed=0, image_shape=None, channels_last=None, **widths):
    """The twin's training step and batch shape.

    Args:
        family: a FAMILIES key (``"dcgan-28"``) or a family name (``"dcgan"``,
            ``"wgan_gp"``, ``"sngan"``: their FAMILIES image shape).
        seed: torch seed of the initial weights and of the latents.
        image_shape: ``(H, W, C)`` overriding the family's.
        channels_last: run in torch.channels_last memory format (default: the
            faster format measured for the family, see ``_SETUPS``).
        **widths: ``g_width`` / ``d_width`` of SNGAN (kerasgan's options).

    Returns:
        ``(step, batch_shape)``: ``step(real)`` runs one generator step (with its
        ``d_steps`` discriminator steps) on an NCHW float32 batch in [-1, 1] and
        returns ``(d_loss, g_loss)`` tensors (last discriminator step's);
        ``batch_shape(batch_size)`` is the NCHW shape of a batch.
    """
    family, image_shape = _resolve(family, image_shape)
    setup = _SETUPS[family]
    torch.manual_seed(seed)
    g, d = build_networks(family, image_shape, **widths)
    if channels_last is None:
        channels_last = setup["channels_last"]
    if channels_last:
        g, d = g.to(memory_format=torch.channels_last), d.to(memory_format=torch.channels_last)
        g.channels_last = True
    g.train()
    d.train()
    g_params, d_params = list(g.parameters()), list(d.parameters())
    g_opt = _adam(g_params, *setup["g_opt"])
    d_opt = _adam(d_params, *setup["d_opt"])
    loss, latent_dim, d_steps = setup["loss"], setup["latent_dim"], setup["d_steps"]
    gp_weight = setup["gp_weight"]

    def step(real):
        if channels_last:
            real = real.contiguous(memory_format=torch.channels_last)
        n = real.shape[0]
        for _ in range(d_steps):
            z = torch.randn(n, latent_dim)
            with torch.no_grad():  # training mode (BN batch stats), outside D's gradient
                fake = g(z)
            power_iterate(d)
            per_example = _d_loss(loss, d(real).flatten(), d(fake).flatten())
            if gp_weight:
                eps = torch.rand(n, 1, 1, 1)
                per_example = per_example + gp_weight * _gradient_penalty(d, real, fake, eps)
            d_loss = per_example.mean()
            d_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            d_opt.step()

        z = torch.randn(n, latent_dim)
        for p in d_params:  # gradients for the generator's variables only
            p.requires_grad_(False)
        g_loss = _g_loss(loss, d(g(z)).flatten()).mean()
        g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        g_opt.step()
        for p in d_params:
            p.requires_grad_(True)
        return d_loss.detach(), g_loss.detach()

    c = image_shape[-1]

    def batch_shape(batch_size):
        return (int(batch_size), c, image_shape[0], image_shape[1])

    return step, batch_shape


def time_steps(key, steps=20, batch_size=64, warmup=2, seed=0, channels_last=None):
    """Real images per second over ``steps`` generator steps (after ``warmup``)."""
    step, batch_shape = build(key, seed=seed, channels_last=channels_last)
    real = torch.rand(batch_shape(batch_size)) * 2.0 - 1.0
    for _ in range(warmup):
        step(real)
    start = time.perf_counter()
    for _ in range(steps):
        losses = step(real)
    elapsed = time.perf_counter() - start
    assert all(math.isfinite(float(v)) for v in losses)
    return steps * batch_size / elapsed


if __name__ == "__main__":
    # python benchmarks/torch_twins.py [KEY ...] [--steps N] [--no-counts]
    args = sys.argv[1:]
    steps = int(args[args.index("--steps") + 1]) if "--steps" in args else 20
    keys = [a for a in args if a in FAMILIES] or list(FAMILIES)
    torch.set_num_threads(2)
    if "--no-counts" not in args:
        for key in keys:
            k, t = keras_trainable_counts(key), torch_trainable_counts(key)
            print(f"{key}: trainable params G/D keras {k[0]:,}/{k[1]:,} torch {t[0]:,}/{t[1]:,}")
            assert k == t, (key, k, t)
    for key in keys if steps > 0 else []:
        rate = time_steps(key, steps=steps, batch_size=64)
        print(f"{key}: {rate:.1f} img/s (torch {torch.__version__} eager CPU, batch 64, "
              f"{torch.get_num_threads()} threads, {steps} steps, "
              f"{'channels_last' if _SETUPS[FAMILIES[key][0]]['channels_last'] else 'NCHW'})",
              flush=True)
