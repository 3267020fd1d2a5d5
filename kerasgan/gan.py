"""`GAN`: the latent → image kind of adversarial model (convolutional, conditional, progressive, style-based)."""

import numpy as np
import keras
from keras import ops

from kerasgan import penalties
from kerasgan.core import tf_step
from kerasgan.core.adversarial import AdversarialModel, _network
from kerasgan.core.predict import predict  # noqa: F401  (kept: ``kerasgan.gan.predict``)
from kerasgan.layers import power_iterate
from kerasgan.sampling import draw_tensors, infer_input_specs
from kerasgan.utils import check_int

#: the message of the in-graph check of data images' values
IMAGE_RANGE_CHECK = ("images must be floats in [-1, 1] without NaN or Inf: scale pixels with "
                     "x / 127.5 - 1 and check the data for NaN")


def _total(*terms):
    """The sum of the per-example terms that are not None."""
    terms = [t for t in terms if t is not None]
    return tf_step.add_n(terms) if len(terms) > 1 else terms[0]


@keras.saving.register_keras_serializable(package="kerasgan")
class GAN(AdversarialModel):
    """A generator and a discriminator trained adversarially with ``fit``: the
    latent → image kind (noise, labels and codes in, images out).

    The training step runs ``d_steps`` discriminator updates, then one generator
    update, each over that network's trainable variables only, with the shared
    update of :class:`kerasgan.core.AdversarialModel`. It is correct under
    ``tf.distribute``:

    - per-example losses are summed and divided by the **global** batch size, so a
      ``MirroredStrategy`` run over N replicas makes the same update as one device
      on the same global batch (gradients are all-reduced by sum);
    - latents and other noise are drawn for the whole global batch from the
      model's ``SeedGenerator`` (identical on every replica) and each replica takes
      its own slice, so the samples do not depend on the number of replicas;
    - the reported losses are global means over all examples of the step;
    - both optimizers are built on their variables inside the strategy scope in
      ``compile``.

    Mixed precision (see :mod:`kerasgan.precision`): build the GAN under a
    ``mixed_float16`` or ``mixed_bfloat16`` policy
    (``with kerasgan.precision.policy_scope("mixed_bfloat16"):``, or
    ``dtype="mixed_bfloat16"``); the networks compute in the 16-bit type with
    float32 variables, losses and penalties are float32, and under
    ``mixed_float16`` ``compile`` wraps both optimizers in a dynamic
    :class:`kerasgan.precision.LossScaleOptimizer` and the step scales each
    loss before its gradient. ``compile(jit_compile=True)`` compiles the whole
    step with XLA.

    Families subclass it and override small hooks: ``sample_latents``,
    ``discriminator_penalty``, ``discriminator_aux_loss``,
    ``generator_aux_loss``, ``discriminate``; the networks are plain
    ``keras.Model``s with explicit inputs (``z`` of shape ``(latent_dim,)`` for
    the generator), which is what export and the zoo use.

    ``gan(x)`` (``call``) takes what the dataset yields, by type: a data batch
    (an image tensor, ``(images,)``, ``(images, labels)``, or a dict with
    ``images``/``image`` and ``labels``/``label``) gives the discriminator's
    output on it; a dict keyed by the generator's input names (``{"z": z}``,
    ``{"z": z, "labels": y}``) gives generated images.

    Args:
        generator: a ``keras.Model`` mapping ``(batch, latent_dim)`` latents to
            NHWC images in [-1, 1].
        discriminator: a ``keras.Model`` mapping NHWC images to logits
            ``(batch, ...)``.
        latent_dim: size of the latent vector; read from ``generator`` when None.
        d_steps: discriminator updates per generator update. The same real batch
            is used for all of them, with fresh latents each time.
        ema_decay: when set (e.g. 0.999), keeps an exponential moving average of
            the generator weights in ``ema_generator``, used by ``generate``.
        r1_gamma: weight of the R1 penalty ``gamma / 2 * ||grad D(x)||^2`` on real
            images (0 disables it).
        seed: seed of the model's ``keras.random.SeedGenerator``: a seeded run
            (same data order) repeats exactly.
        **kwargs: ``keras.Model`` arguments: ``name``, and ``dtype``, the
            dtype policy (``"mixed_bfloat16"``, say) in which a family builds its
            networks (default: the global policy); it is saved in the config.

    Example:
        >>> gan = kerasgan.GAN(generator, discriminator)
        >>> gan.compile(keras.optimizers.Adam(2e-4, beta_1=0.5),
        ...             keras.optimizers.Adam(2e-4, beta_1=0.5))
        >>> gan.fit(dataset, epochs=5)
        >>> images = gan.generate(16, seed=0)
    """

    #: registry name of the family (set by ``kerasgan.models.register``).
    family = "gan"
    #: the discriminator judges images: ``augment`` applies to every image it
    #: sees (real, generated, and the penalties' inputs), in both steps
    augments_images = True

    def __init__(
        self,
        generator,
        discriminator,
        latent_dim=None,
        d_steps=1,
        ema_decay=None,
        r1_gamma=0.0,
        seed=None,
        **kwargs,
    ):
        generator = _network(generator)
        if latent_dim is None:
            latent_dim = int(generator.input_shape[-1])
        if int(d_steps) < 1:
            raise ValueError(f"d_steps must be >= 1, got {d_steps}")
        latent_dim = check_int(latent_dim, "latent_dim")
        if not float(r1_gamma) >= 0.0:
            raise ValueError(f"r1_gamma must be ≥ 0 (0 disables R1), got {r1_gamma}")
        # set before the base's __init__, which asks penalty_names() for the trackers
        self.latent_dim = int(latent_dim)
        self.d_steps = int(d_steps)
        self.r1_gamma = float(r1_gamma)
        super().__init__(generator, discriminator, ema_decay=ema_decay, seed=seed, **kwargs)

    # ------------------------------------------------------------------ config
    def get_config(self):
        base = self._base_config()
        config = {
            "name": base.pop("name"),
            "latent_dim": self.latent_dim,
            "d_steps": self.d_steps,
            "ema_decay": base.pop("ema_decay"),
            "r1_gamma": self.r1_gamma,
            **base,
        }
        if type(self).__init__ is GAN.__init__:  # built from its networks: save them
            config.update(self._networks_config())
        return config

    def penalty_names(self):
        """Names of the per-example terms the step logs besides the losses
        (penalties, auxiliary losses), each with a ``Mean`` tracker."""
        return ["r1"] if self.r1_gamma > 0 else []

    # ------------------------------------------------------------------- call
    def call(self, inputs, training=False):
        """What the dataset yields gives the discriminator's output; a dict of
        generator inputs gives images.

        The choice is by type, never by shape:

        - a dict keyed by the generator's input names (``{"z": z}``; a
          conditional family's ``{"z": z, "labels": y}``) → the generator's
          images;
        - a data batch → ``discriminate(images, labels)``: an image tensor,
          ``(images,)``, ``(images, labels)``, or a dict with
          ``images``/``image`` (and ``labels``/``label``). Keras may call the
          model with a data batch to build it.

        Raises:
            ValueError: a dict with neither images nor the generator's inputs.
        """
        labels = None
        if isinstance(inputs, dict):
            names = [spec["name"] for spec in self.generator_inputs()]
            if "images" not in inputs and "image" not in inputs:
                if all(name in inputs for name in names):
                    values = [inputs[name] for name in names]
                    return self.generator(values if len(values) > 1 else values[0],
                                          training=training)
                raise ValueError(
                    f"{self.family}: call() takes a data batch (images, or a dict with "
                    f"'images') or a dict of generator inputs {names}, got keys {sorted(inputs)}")
            labels = inputs.get("labels", inputs.get("label"))
            inputs = inputs["images"] if "images" in inputs else inputs["image"]
        elif isinstance(inputs, (tuple, list)):
            labels = inputs[1] if len(inputs) > 1 else None
            inputs = inputs[0]
        return self.discriminate(inputs, labels, training=training)

    # Conditional families override these small hooks; the step below is shared.
    def discriminate(self, images, labels=None, training=False):
        """The discriminator's output on ``images`` (of class ``labels`` for a
        discriminator that takes labels): a tensor of logits, or a list whose
        first element is the adversarial logits (auxiliary heads follow)."""
        if len(self.discriminator.inputs) > 1:
            if labels is None:
                raise ValueError(
                    f"{self.family}: the discriminator is conditional and needs class labels"
                )
            return self.discriminator([images, labels], training=training)
        return self.discriminator(images, training=training)

    @staticmethod
    def adversarial_logits(output):
        """The real/fake logits in a discriminator output."""
        return output[0] if isinstance(output, (list, tuple)) else output

    def fake_labels(self, generator_inputs):
        """Class labels of generated images, taken from the generator inputs
        (the ``"labels"`` input of a conditional family; None otherwise)."""
        if not self.num_classes:
            return None
        for spec, value in zip(self.generator_inputs(), self._as_list(generator_inputs)):
            if spec["sampler"] == "labels":
                return value
        return None

    def discriminator_aux_loss(self, real_out, fake_out, real_labels, generator_inputs):
        """Extra per-example discriminator loss (an auxiliary classifier's, say)
        and a dict of per-example terms to log; default none."""
        del real_out, fake_out, real_labels, generator_inputs
        return None, {}

    def generator_aux_loss(self, fake_out, generator_inputs):
        """Extra per-example generator loss and terms to log; default none."""
        del fake_out, generator_inputs
        return None, {}

    def critic(self, labels=None):
        """``images -> adversarial logits`` (conditioned on ``labels``), the
        callable input-gradient penalties differentiate; with ``augment``, the
        images are augmented first (the penalty's gradient is taken with
        respect to the un-augmented images, as in the ADA reference code)."""
        return lambda images, training=True: self.adversarial_logits(
            self.discriminate(self.augment_images(images), labels, training=training))

    def penalty_loss_scale(self):
        """The loss scale of input-gradient penalties: the discriminator
        optimizer's dynamic scale when it is a ``LossScaleOptimizer`` (a
        ``mixed_float16`` model), else None (see :mod:`kerasgan.penalties`)."""
        if isinstance(self.d_optimizer, keras.optimizers.LossScaleOptimizer):
            return self.d_optimizer.dynamic_scale
        return None

    @staticmethod
    def _as_list(value):
        return list(value) if isinstance(value, (list, tuple)) else [value]

    def sample_latents(self, batch_size):
        """Draws generator inputs for ``batch_size`` examples (a tensor, or a
        list of tensors in the generator's input order) from the distributions
        of :meth:`generator_inputs`, with the model's seed generator; called
        once per sampling with the *global* batch size."""
        inputs = draw_tensors(self.generator_inputs(), batch_size, self.seed_generator)
        return inputs[0] if len(inputs) == 1 else inputs

    def discriminator_penalty(self, real, fake, noise, labels=None):
        """Per-example penalty added to the discriminator loss (default: R1 when
        ``r1_gamma > 0``). ``noise`` is this replica's slice of a
        ``(global_batch,)`` uniform draw, for penalties that interpolate;
        ``labels`` are the real images' labels for a conditional family."""
        del fake, noise
        if self.r1_gamma > 0:
            r1 = penalties.r1_penalty(self.critic(labels), real,
                                      loss_scale=self.penalty_loss_scale())
            return 0.5 * self.r1_gamma * r1, {"r1": r1}
        return None, {}

    # -------------------------------------------------------------- the step
    def _unpack(self, data):
        """``(images, labels)`` of a data batch; labels are None for an
        unconditional family (and ignored when the data has them)."""
        labels = None
        if isinstance(data, dict):
            images = data["images"] if "images" in data else data["image"]
            labels = data.get("labels", data.get("label"))
        elif isinstance(data, (tuple, list)):
            images = data[0]
            labels = data[1] if len(data) > 1 else None
            while isinstance(images, (tuple, list)):
                images = images[0]
        else:
            images = data
        images = self._check_images(images)
        if not self.num_classes:
            return images, None
        if labels is None:
            raise ValueError(
                f"{self.family} is class-conditional: the dataset must yield (images, labels) "
                "batches (kerasgan.data.load(..., labels=True)) from a source with labels"
            )
        labels = tf_step.to_tensor(labels)
        dtype = keras.backend.standardize_dtype(labels.dtype)
        if not ("int" in dtype or dtype == "bool"):
            raise ValueError(
                f"{self.family}: labels must be integer class ids, got {dtype}: "
                "pass ints 0..num_classes-1 (not fractions or one-hot vectors)"
            )
        shape = tf_step.static_shape(labels)
        if shape is not None and len(shape) != 1 and not (len(shape) == 2 and shape[-1] == 1):
            raise ValueError(
                f"{self.family}: labels must have shape (batch,), got {shape}: pass "
                "class ids, not one-hot vectors (tf.argmax(y, -1))"
            )
        labels = ops.cast(ops.reshape(labels, (-1,)), "int32")
        if self._xla():
            return images, labels
        checks = [
            tf_step.assert_non_negative(
                labels, f"labels must be class ids in [0, {self.num_classes}), found a negative one"),
            tf_step.assert_less(
                labels, self.num_classes,
                f"labels must be class ids in [0, {self.num_classes}), found one ≥ "
                f"{self.num_classes}: build the model with the number of classes of the data"),
        ]
        return images, tf_step.guarded(checks, labels)

    def _check_images(self, images):
        """Images of the generator's shape, floats in [-1, 1] without NaN: shape
        and dtype are checked when the step is traced, the values by one cheap
        in-graph assertion (reported by ``fit`` as a ValueError)."""
        images = tf_step.to_tensor(images)
        dtype = keras.backend.standardize_dtype(images.dtype)
        if "float" not in dtype:
            raise ValueError(
                f"{self.family}: images must be floats in [-1, 1], got {dtype}: "
                "scale pixels with x / 127.5 - 1 (kerasgan.data does)"
            )
        expected = tuple(self.generator.output_shape[1:])
        shape = tf_step.static_shape(images)
        if shape is not None and tuple(shape[1:]) != expected and all(
                d is not None for d in shape[1:]):
            raise ValueError(
                f"{self.family}: data images have shape {tuple(shape[1:])}, the "
                f"generator makes {expected}: build the model with image_shape="
                f"{tuple(shape[1:])} or resize / convert the data"
            )
        if self._xla():  # XLA drops assertions: the value check is not compiled in
            return images
        peak = ops.max(ops.abs(ops.cast(images, "float32")))
        check = tf_step.assert_in_range(peak, 1.0 + 1e-3, IMAGE_RANGE_CHECK)
        return tf_step.guarded([check], images)

    # -------------------------------------------------------------- the step
    def _sample_local_latents(self, offset, local_batch, global_batch):
        return tf_step.local_slice(self.sample_latents(global_batch), offset, local_batch)

    def _power_iterate(self, model):
        """One power iteration of every spectral-norm layer in ``model`` (none
        for most families): exactly one update per network update, identical on
        every replica, never in inference."""
        power_iterate(model)

    def _discriminate32(self, images, labels):
        """The discriminator's float32 output on ``images`` in a training step
        (augmented first when the model has ``augment``)."""
        return self._float32(self.discriminate(self.augment_images(images), labels,
                                               training=True))

    def train_step(self, data):
        real, real_labels = self._unpack(data)
        real = self._float32(real)
        local_batch = tf_step.batch_size(real)
        offset, global_batch = tf_step.batch_layout(local_batch)

        for _ in range(self.d_steps):
            z = self._sample_local_latents(offset, local_batch, global_batch)
            eps = tf_step.local_slice(
                keras.random.uniform((global_batch,), seed=self.seed_generator), offset, local_batch
            )
            fake = self._float32(self.generator(z, training=True))
            self._power_iterate(self.discriminator)

            def d_loss(_, z=z, eps=eps, fake=fake):
                real_out = self._discriminate32(real, real_labels)
                fake_out = self._discriminate32(fake, self.fake_labels(z))
                per_example = self.d_loss_fn(self.adversarial_logits(real_out),
                                             self.adversarial_logits(fake_out))
                aux, aux_logs = self.discriminator_aux_loss(real_out, fake_out, real_labels, z)
                penalty, penalty_logs = self.discriminator_penalty(real, fake, eps, real_labels)
                return _total(per_example, aux, penalty), (
                    per_example, {**penalty_logs, **aux_logs}, self.adversarial_logits(real_out))

            d_per_example, d_logs, real_logits = self.minimize("d", d_loss, global_batch)
            self.observe_real_logits(real_logits)

        z = self._sample_local_latents(offset, local_batch, global_batch)
        self._power_iterate(self.generator)

        def g_loss(_):
            fake = self._float32(self.generator(z, training=True))
            fake_out = self._discriminate32(fake, self.fake_labels(z))
            per_example = self.g_loss_fn(self.adversarial_logits(fake_out))
            aux, aux_logs = self.generator_aux_loss(fake_out, z)
            return _total(per_example, aux), (per_example, aux_logs)

        g_per_example, g_logs = self.minimize("g", g_loss, global_batch, ema=True)

        # Metric variables sum across replicas: these are global means.
        self.d_loss_tracker.update_state(d_per_example)
        self.g_loss_tracker.update_state(g_per_example)
        for name, value in {**d_logs, **g_logs}.items():
            self.extra_trackers[name].update_state(value)
        self.adjust_augmentation(global_batch)
        return self._step_logs()

    # -------------------------------------------------------------- sampling
    def latents(self, n, seed=None):
        """Standard-normal latents ``(n, latent_dim)`` from a numpy generator,
        so a seed gives the same latents on every backend and machine."""
        rng = np.random.default_rng(seed)
        return rng.standard_normal((int(n), self.latent_dim)).astype("float32")

    def generator_inputs(self):
        """Specs of the generator's inputs in call order (see :mod:`kerasgan.sampling`):
        what export names and what ``generate`` and the deployment kit draw."""
        return infer_input_specs(self.generator, num_classes=self.num_classes)

    def sample_grid(self, n, seed=None):
        """Images for a sample grid and its row length: for a conditional
        family one row per class (``n // num_classes`` images each, the same
        latents in every row), else ``n`` images in a square grid.

        Returns:
            ``(images, nrow)``; ``nrow`` is None for the default square grid.
        """
        if not self.num_classes:
            return self.generate(n, seed=seed), None
        per_row = max(1, int(n) // self.num_classes)
        return self._class_rows("labels", self.num_classes, per_row, seed), per_row

    def _class_rows(self, name, num_classes, per_row, seed):
        """``num_classes`` rows of ``per_row`` images; row ``c`` has input
        ``name`` (labels or a categorical code) set to ``c`` and every row uses the
        same other inputs."""
        # the named input given (as 0) draws nothing: row c is exactly
        # generate(per_row, seed, labels=c) (or codes={name: c})
        fixed = {"labels": 0} if name == "labels" else {"codes": {name: 0}}
        base = self.sample_inputs(per_row, seed=seed, **fixed)
        specs = self.generator_inputs()
        rows = []
        for spec, value in zip(specs, base):
            if spec["name"] == name:
                rows.append(np.repeat(np.arange(num_classes, dtype="int32"), per_row))
            else:
                rows.append(np.tile(value, (num_classes,) + (1,) * (value.ndim - 1)))
        return self._predict(self.sampling_generator, rows if len(rows) > 1 else rows[0], 256)
