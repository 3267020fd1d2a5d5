"""`GAN`: the adversarial training step every family shares."""

import json
import os
import re
import weakref

import numpy as np
import keras
import tensorflow as tf

from kerasgan import losses as losses_lib
from kerasgan import penalties
from kerasgan import precision
from kerasgan.sampling import draw_inputs, draw_tensors, infer_input_specs, resolve_labels


_INFERENCE_FNS = weakref.WeakKeyDictionary()


def predict(model, inputs, batch_size=256):
    """Runs ``model`` in inference mode over ``inputs``, ``batch_size`` at a time.

    Not ``predict_on_batch``: on a model built under ``MirroredStrategy`` that
    runs the whole batch on every replica and returns N copies of it. A
    ``tf.function`` called in the cross-replica context reads the (mirrored)
    weights once and returns exactly one output per input.

    Args:
        model: a Keras model.
        inputs: an array, or a list of arrays for a multi-input model.
        batch_size: examples per call.

    Returns:
        float32 numpy array.
    """
    fn = _INFERENCE_FNS.get(model)
    if fn is None:
        ref = weakref.ref(model)  # the cache must not keep the model alive
        fn = tf.function(lambda x: ref()(x, training=False), reduce_retracing=True,
                         autograph=False)
        _INFERENCE_FNS[model] = fn
    multi = isinstance(inputs, (list, tuple))
    n = len(inputs[0] if multi else inputs)
    out = []
    for start in range(0, n, batch_size):
        if multi:
            chunk = [tf.convert_to_tensor(x[start : start + batch_size]) for x in inputs]
        else:
            chunk = tf.convert_to_tensor(inputs[start : start + batch_size])
        out.append(np.asarray(fn(chunk), dtype="float32"))
    return np.concatenate(out, axis=0)


_INPUT_CHECK = "kerasgan input check:"


def _input_check(text):
    """An in-graph assertion message ``fit`` recognises and reports as one line."""
    return f"{_INPUT_CHECK} {text} |"


def _multi_worker(strategy):
    """True for a ``MultiWorkerMirroredStrategy`` spanning several workers."""
    extended = getattr(strategy, "extended", None)
    return (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            and bool(getattr(extended, "_in_multi_worker_mode", lambda: False)()))


def _serialize(obj):
    return keras.saving.serialize_keras_object(obj)


def _deserialize(config):
    return keras.saving.deserialize_keras_object(config)


@keras.saving.register_keras_serializable(package="kerasgan")
class GAN(keras.Model):
    """A generator and a discriminator trained adversarially with ``fit``.

    The training step runs ``d_steps`` discriminator updates, then one generator
    update, each a ``tf.GradientTape`` over that network's trainable variables only.
    It is correct under ``tf.distribute``:

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
    ``discriminator_penalty``; the networks are plain ``keras.Model``s with
    explicit inputs (``z`` of shape ``(latent_dim,)`` for the generator), which is
    what export and the zoo use.

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
    #: loss pair used when ``compile`` gets none.
    default_loss = "non_saturating"
    #: number of classes of a conditional family (None: unconditional).
    num_classes = None
    #: True for a family whose generator translates input images (Pix2Pix; see
    #: :class:`kerasgan.models.image_conditioned.ImageConditionedGAN`).
    image_conditioned = False

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
        super().__init__(**kwargs)
        if isinstance(generator, dict):
            generator = _deserialize(generator)
        if isinstance(discriminator, dict):
            discriminator = _deserialize(discriminator)
        if latent_dim is None:
            latent_dim = int(generator.input_shape[-1])
        if int(d_steps) < 1:
            raise ValueError(f"d_steps must be >= 1, got {d_steps}")
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, (int, np.integer)) \
                or latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive integer, got {latent_dim!r}")
        if not float(r1_gamma) >= 0.0:
            raise ValueError(f"r1_gamma must be ≥ 0 (0 disables R1), got {r1_gamma}")
        if ema_decay is not None and not 0.0 < float(ema_decay) < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1) or None, got {ema_decay}")
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = int(latent_dim)
        self.d_steps = int(d_steps)
        self.ema_decay = None if ema_decay is None else float(ema_decay)
        self.r1_gamma = float(r1_gamma)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed, name="gan_seed")
        self.ema_generator = None
        if self.ema_decay is not None:
            self.ema_generator = keras.models.clone_model(generator)
            self.ema_generator.name = "ema_generator"
            self.ema_generator.set_weights(generator.get_weights())
            self.ema_generator.trainable = False
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        # Trackers are created here, never inside the step: a variable created in
        # a replica context fails under MirroredStrategy.
        self.extra_trackers = {
            name: keras.metrics.Mean(name=name) for name in self.penalty_names()
        }
        self.g_optimizer = None
        self.d_optimizer = None
        # which optimizers compile() wrapped in a LossScaleOptimizer itself
        self._loss_scale_wrapped = {"g": False, "d": False}
        self.built = True

    @classmethod
    def from_preset(cls, name, progress=True):
        """The GAN of zoo entry ``name`` with its pretrained generator
        (downloaded once, sha256-verified, cached); see :mod:`kerasgan.zoo`."""
        from kerasgan.zoo.api import from_preset

        return from_preset(name, cls=cls, progress=progress)

    # ------------------------------------------------------------------ config
    def get_config(self):
        config = {
            "name": self.name,
            "latent_dim": self.latent_dim,
            "d_steps": self.d_steps,
            "ema_decay": self.ema_decay,
            "r1_gamma": self.r1_gamma,
            "seed": self.seed,
            # the networks' policy: a mixed-precision GAN loads as one
            "dtype": self.dtype_policy.name,
        }
        if type(self).__init__ is GAN.__init__:
            config["generator"] = _serialize(self.generator)
            config["discriminator"] = _serialize(self.discriminator)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    # The seed generator's state is part of the model's state: saving it makes a
    # loaded or resumed model draw the same latents as the original would have.
    _SEED_KEY = "seed_generator_state"

    def save_own_variables(self, store):
        super().save_own_variables(store)
        store[self._SEED_KEY] = self.seed_generator.state.numpy()

    def load_own_variables(self, store):
        own = [k for k in store.keys() if k != self._SEED_KEY]
        all_vars = self._trainable_variables + self._non_trainable_variables
        if len(own) != len(all_vars):
            raise ValueError(
                f"{self.name}: the saved state holds {len(own)} variables where this "
                f"model has {len(all_vars)}; was it saved from another configuration?"
            )
        for i, v in enumerate(all_vars):
            v.assign(store[f"{i}"])
        if self._SEED_KEY in store.keys():
            self.seed_generator.state.assign(np.asarray(store[self._SEED_KEY]))

    # ------------------------------------------------------- weights files
    #: attribute of a ``.weights.h5`` file that names the family that wrote it
    _FAMILY_ATTR = "kerasgan_family"

    def save_weights(self, filepath, overwrite=True, **kwargs):
        """``keras.Model.save_weights``, with the family recorded in the file so
        that loading it into another family is refused."""
        super().save_weights(filepath, overwrite=overwrite, **kwargs)
        if os.fspath(filepath).endswith(".weights.h5"):
            import h5py

            with h5py.File(filepath, "a") as f:
                f.attrs[self._FAMILY_ATTR] = self.family

    def _state_variables(self):
        variables = list(self.weights)
        for opt in (self.g_optimizer, self.d_optimizer):
            if opt is not None:
                variables += list(opt.variables)
        return variables + [self.seed_generator.state]

    def load_weights(self, filepath, skip_mismatch=False, **kwargs):
        """``keras.Model.load_weights``, all or nothing, with clear errors.

        Raises:
            ValueError: the file is not a readable weights file, was written
                by another family, or does not fit this configuration (other
                widths, latent size or image shape). The model is then left
                exactly as it was: nothing is half-loaded.
        """
        path = os.fspath(filepath)
        if path.endswith(".weights.h5") and os.path.exists(path):
            import h5py

            try:
                with h5py.File(path, "r") as f:
                    family = f.attrs.get(self._FAMILY_ATTR)
            except OSError as e:
                raise ValueError(
                    f"{path} is not a readable weights file ({str(e).split('(')[-1].rstrip(')')}): "
                    "it is damaged or not an HDF5 .weights.h5 file; save the weights again"
                ) from None
            if isinstance(family, bytes):
                family = family.decode()
            if family is not None and family != self.family:
                raise ValueError(
                    f"{path} holds {family} weights and this model is {self.family}: load it "
                    f"into kerasgan.models.get({family!r}, ...) with the configuration it was "
                    "trained with"
                )
        variables = self._state_variables()
        before = [v.numpy() for v in variables]
        try:
            super().load_weights(filepath, skip_mismatch=skip_mismatch, **kwargs)
        except ValueError as e:
            for v, value in zip(variables, before):
                v.assign(value)
            first = str(e).strip().splitlines()[0]
            raise ValueError(
                f"{path} does not fit this {self.family} (other widths, latent size, image "
                f"shape or number of classes?); nothing was loaded. Keras: {first}"
            ) from e

    # ----------------------------------------------------------------- compile
    def compile(self, g_optimizer=None, d_optimizer=None, g_loss=None, d_loss=None, **kwargs):
        """Configures training.

        Args:
            g_optimizer: generator optimizer (default: the family's, see
                ``default_optimizers``).
            d_optimizer: discriminator optimizer.
            g_loss: name of a loss pair in ``kerasgan.losses`` or a callable
                ``fake_logits -> per-example loss``; default: the family's.
            d_loss: name or callable ``(real_logits, fake_logits) -> per-example
                loss``; default: the family's.
            **kwargs: passed to ``keras.Model.compile`` (``jit_compile``,
                ``steps_per_execution``, ``run_eagerly``). ``auto_scale_loss``
                (default True): when a network computes in float16 (a
                ``mixed_float16`` policy), wrap each optimizer that is not one
                already in a dynamic :class:`kerasgan.precision.LossScaleOptimizer`
                (both, since the generator's gradient goes through the
                discriminator). Not for bfloat16, which needs no loss scaling.

        ``model.optimizer`` is ``g_optimizer``: its ``iterations`` counts
        generator steps (skipped float16 steps included), ``d_optimizer``'s
        counts discriminator steps.
        """
        kwargs = dict(kwargs)
        auto_scale_loss = kwargs.pop("auto_scale_loss", True)
        if g_optimizer is None or d_optimizer is None:
            default_g, default_d = self.default_optimizers()
            g_optimizer = g_optimizer if g_optimizer is not None else default_g
            d_optimizer = d_optimizer if d_optimizer is not None else default_d
        g_optimizer = keras.optimizers.get(g_optimizer)
        d_optimizer = keras.optimizers.get(d_optimizer)
        if g_optimizer is d_optimizer:
            raise ValueError(
                "g_optimizer and d_optimizer must be two different optimizer objects "
                "(each keeps its own slots)"
            )
        self._loss_names = {
            "g_loss": g_loss if isinstance(g_loss, str) or g_loss is None else None,
            "d_loss": d_loss if isinstance(d_loss, str) or d_loss is None else None,
        }
        self.g_loss_fn = losses_lib.get(g_loss or self.default_loss, "generator")
        self.d_loss_fn = losses_lib.get(d_loss or self.default_loss, "discriminator")
        wrapped = {"g": False, "d": False}
        if auto_scale_loss and precision.uses_float16(self.generator, self.discriminator):
            # float16 gradients underflow: loss-scale both networks' steps (the
            # generator's gradient also runs through the float16 discriminator)
            lso = keras.optimizers.LossScaleOptimizer
            wrapped = {"g": not isinstance(g_optimizer, lso), "d": not isinstance(d_optimizer, lso)}
            g_optimizer = precision.loss_scale_optimizer(g_optimizer)
            d_optimizer = precision.loss_scale_optimizer(d_optimizer)
        self._loss_scale_wrapped = wrapped
        # `optimizer` is the generator's, so `model.optimizer.iterations` counts
        # generator steps, the usual step of a GAN run. Keras' own loss-scale
        # wrapping is off: it would wrap the generator's optimizer a second time.
        super().compile(optimizer=g_optimizer, auto_scale_loss=False, **kwargs)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        # Build slots now, inside the strategy scope: slots created lazily in the
        # first step fail under MirroredStrategy.
        with self.distribute_strategy.scope():
            self.g_optimizer.build(self.generator_trainable_variables())
            self.d_optimizer.build(self.discriminator_trainable_variables())

    def generator_trainable_variables(self):
        """What ``g_optimizer`` updates (built on in ``compile``): the
        generator's trainable variables; a family with two generators
        (CycleGAN) returns both's."""
        return self.generator.trainable_variables

    def discriminator_trainable_variables(self):
        """What ``d_optimizer`` updates: the discriminator's trainable variables
        (both discriminators' for CycleGAN)."""
        return self.discriminator.trainable_variables

    def default_optimizers(self):
        """Optimizers used when ``compile`` is given none (DCGAN's Adam)."""
        return (
            keras.optimizers.Adam(2e-4, beta_1=0.5),
            keras.optimizers.Adam(2e-4, beta_1=0.5),
        )

    def _optimizer_config(self, role):
        # A loss-scale wrapper compile() added itself is left out (compile adds
        # it again for the same policy); one the caller passed is kept.
        optimizer = self.g_optimizer if role == "g" else self.d_optimizer
        if self._loss_scale_wrapped[role]:
            optimizer = optimizer.inner_optimizer
        return _serialize(optimizer)

    def get_compile_config(self):
        if self.g_optimizer is None:
            return None
        return {
            "g_optimizer": self._optimizer_config("g"),
            "d_optimizer": self._optimizer_config("d"),
            "g_loss": self._loss_names["g_loss"],
            "d_loss": self._loss_names["d_loss"],
        }

    def compile_from_config(self, config):
        self.compile(
            g_optimizer=_deserialize(config["g_optimizer"]),
            d_optimizer=_deserialize(config["d_optimizer"]),
            g_loss=config.get("g_loss"),
            d_loss=config.get("d_loss"),
        )

    @property
    def metrics(self):
        return [self.g_loss_tracker, self.d_loss_tracker, *self.extra_trackers.values()]

    def penalty_names(self):
        """Names of the per-example terms the step logs besides the losses
        (penalties, auxiliary losses), each with a ``Mean`` tracker."""
        return ["r1"] if self.r1_gamma > 0 else []

    # ------------------------------------------------------------------- hooks
    def call(self, inputs, training=False):
        """Generator inputs give images; images (with labels, for a conditional
        discriminator) give D's output.

        Keras may call the model with a data batch to build it, so both work.
        """
        labels = None
        if isinstance(inputs, dict):
            labels = inputs.get("labels")
            inputs = inputs["images"] if "images" in inputs else inputs["image"]
        elif isinstance(inputs, (tuple, list)):
            if len(inputs[0].shape) == 2 and len(inputs) == len(self.generator.inputs):
                return self.generator(list(inputs), training=training)
            labels = inputs[1] if len(inputs) > 1 else None
            inputs = inputs[0]
        if (len(inputs.shape) == 2 and inputs.shape[-1] == self.latent_dim
                and len(self.generator.inputs) == 1):
            return self.generator(inputs, training=training)
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
        callable input-gradient penalties differentiate."""
        return lambda images, training=True: self.adversarial_logits(
            self.discriminate(images, labels, training=training))

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
        labels = tf.convert_to_tensor(labels)
        if not (labels.dtype.is_integer or labels.dtype == tf.bool):
            raise ValueError(
                f"{self.family}: labels must be integer class ids, got {labels.dtype.name}: "
                "pass ints 0..num_classes-1 (not fractions or one-hot vectors)"
            )
        if labels.shape.rank not in (None, 1) and not (
                labels.shape.rank == 2 and labels.shape[-1] == 1):
            raise ValueError(
                f"{self.family}: labels must have shape (batch,), got {labels.shape}: pass "
                "class ids, not one-hot vectors (tf.argmax(y, -1))"
            )
        labels = tf.cast(tf.reshape(labels, (-1,)), tf.int32)
        if self._xla():
            return images, labels
        checks = [
            tf.debugging.assert_non_negative(labels, message=_input_check(
                f"labels must be class ids in [0, {self.num_classes}), found a negative one")),
            tf.debugging.assert_less(labels, self.num_classes, message=_input_check(
                f"labels must be class ids in [0, {self.num_classes}), found one ≥ "
                f"{self.num_classes}: build the model with the number of classes of the data")),
        ]
        with tf.control_dependencies(checks):
            labels = tf.identity(labels)
        return images, labels

    def _check_images(self, images):
        """Images of the generator's shape, floats in [-1, 1] without NaN: shape
        and dtype are checked when the step is traced, the values by one cheap
        in-graph assertion (reported by ``fit`` as a ValueError)."""
        images = tf.convert_to_tensor(images)
        if not images.dtype.is_floating:
            raise ValueError(
                f"{self.family}: images must be floats in [-1, 1], got {images.dtype.name}: "
                "scale pixels with x / 127.5 - 1 (kerasgan.data does)"
            )
        expected = tuple(self.generator.output_shape[1:])
        if images.shape.rank is not None and tuple(images.shape[1:]) != expected and all(
                d is not None for d in images.shape[1:]):
            raise ValueError(
                f"{self.family}: data images have shape {tuple(images.shape[1:])}, the "
                f"generator makes {expected}: build the model with image_shape="
                f"{tuple(images.shape[1:])} or resize / convert the data"
            )
        if self._xla():  # XLA drops assertions: the value check is not compiled in
            return images
        peak = tf.reduce_max(tf.abs(tf.cast(images, tf.float32)))
        check = tf.debugging.assert_less_equal(peak, 1.0 + 1e-3, message=_input_check(
            "images must be floats in [-1, 1] without NaN or Inf: scale pixels with "
            "x / 127.5 - 1 and check the data for NaN"))
        with tf.control_dependencies([check]):
            return tf.identity(images)

    def _xla(self):
        return bool(getattr(self, "jit_compile", False))

    def fit(self, *args, **kwargs):
        """``keras.Model.fit``; a bad data batch (labels out of range, pixels
        outside [-1, 1], NaN) raises a one-line ValueError, and a dataset that
        yields no batch is an error too."""
        try:
            history = super().fit(*args, **kwargs)
        except tf.errors.InvalidArgumentError as e:
            found = re.search(_INPUT_CHECK + r" (.*?) \|", str(e))
            if found:
                raise ValueError(f"{self.family}: bad data batch: {found.group(1)}") from None
            raise
        if not history.history and kwargs.get("epochs", 1) > kwargs.get("initial_epoch", 0):
            raise ValueError(
                f"{self.family}: the dataset yielded no batch, so nothing was trained: check "
                "that it is not empty (and that drop_remainder leaves a batch)"
            )
        return history

    @staticmethod
    def _batch_layout(local_batch):
        """This replica's offset in the global batch, and the global batch size."""
        ctx = tf.distribute.get_replica_context()
        if ctx is None or ctx.num_replicas_in_sync == 1:
            return tf.constant(0, tf.int32), local_batch
        # Every replica learns every replica's batch size (a batch need not split
        # evenly): one all-reduce of a one-hot vector of sizes.
        replica = ctx.replica_id_in_sync_group
        one_hot = tf.one_hot(replica, ctx.num_replicas_in_sync, dtype=tf.float32)
        sizes = ctx.all_reduce("sum", one_hot * tf.cast(local_batch, tf.float32))
        sizes = tf.cast(tf.round(sizes), tf.int32)
        offset = tf.reduce_sum(sizes[:replica])
        return offset, tf.reduce_sum(sizes)

    def _local_slice(self, value, offset, local_batch):
        if isinstance(value, (list, tuple)):
            return type(value)(self._local_slice(v, offset, local_batch) for v in value)
        if isinstance(value, dict):
            return {k: self._local_slice(v, offset, local_batch) for k, v in value.items()}
        return value[offset : offset + local_batch]

    def _sample_local_latents(self, offset, local_batch, global_batch):
        return self._local_slice(self.sample_latents(global_batch), offset, local_batch)

    def _power_iterate(self, model):
        """One power iteration of every spectral-norm layer in ``model`` (none
        for most families): exactly one update per network update, identical on
        every replica, never in inference."""
        from kerasgan.layers import power_iterate

        power_iterate(model)

    @staticmethod
    def _float32(value):
        """Floating tensors of a (nested) network output cast to float32: every
        loss is computed in float32 under mixed precision."""
        def cast(x):
            return tf.cast(x, tf.float32) if x.dtype.is_floating else x

        return tf.nest.map_structure(cast, value)

    def _discriminate32(self, images, labels):
        return self._float32(self.discriminate(images, labels, training=True))

    def train_step(self, data):
        real, real_labels = self._unpack(data)
        real = tf.cast(tf.convert_to_tensor(real), tf.float32)
        local_batch = tf.shape(real)[0]
        offset, global_batch = self._batch_layout(local_batch)
        scale = tf.cast(global_batch, tf.float32)

        def total(*terms):
            terms = [t for t in terms if t is not None]
            return tf.add_n(terms) if len(terms) > 1 else terms[0]

        for _ in range(self.d_steps):
            z = self._sample_local_latents(offset, local_batch, global_batch)
            eps = self._local_slice(
                keras.random.uniform((global_batch,), seed=self.seed_generator), offset, local_batch
            )
            fake = self._float32(self.generator(z, training=True))
            self._power_iterate(self.discriminator)
            with tf.GradientTape() as tape:
                real_out = self._discriminate32(real, real_labels)
                fake_out = self._discriminate32(fake, self.fake_labels(z))
                d_per_example = self.d_loss_fn(self.adversarial_logits(real_out),
                                               self.adversarial_logits(fake_out))
                d_aux, d_aux_logs = self.discriminator_aux_loss(real_out, fake_out, real_labels, z)
                penalty, penalty_logs = self.discriminator_penalty(real, fake, eps, real_labels)
                d_loss = tf.reduce_sum(total(d_per_example, d_aux, penalty)) / scale
                # loss scaling (a LossScaleOptimizer's dynamic scale, or a
                # static loss_scale_factor; else the loss as it is); apply()
                # unscales the gradients
                d_loss = self.d_optimizer.scale_loss(d_loss)
            d_vars = self.discriminator.trainable_variables
            grads = tape.gradient(d_loss, d_vars)
            self.d_optimizer.apply_gradients(zip(grads, d_vars))

        z = self._sample_local_latents(offset, local_batch, global_batch)
        self._power_iterate(self.generator)
        with tf.GradientTape() as tape:
            fake = self._float32(self.generator(z, training=True))
            fake_out = self._discriminate32(fake, self.fake_labels(z))
            g_per_example = self.g_loss_fn(self.adversarial_logits(fake_out))
            g_aux, g_aux_logs = self.generator_aux_loss(fake_out, z)
            g_loss = tf.reduce_sum(total(g_per_example, g_aux)) / scale
            g_loss = self.g_optimizer.scale_loss(g_loss)
        g_vars = self.generator.trainable_variables
        grads = tape.gradient(g_loss, g_vars)
        self.g_optimizer.apply_gradients(zip(grads, g_vars))
        self._update_ema()

        # Metric variables sum across replicas: these are global means.
        self.d_loss_tracker.update_state(d_per_example)
        self.g_loss_tracker.update_state(g_per_example)
        for name, value in {**penalty_logs, **d_aux_logs, **g_aux_logs}.items():
            self.extra_trackers[name].update_state(value)
        return self._step_logs()

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        """Keras' ``fit`` takes a first batch and, under a strategy, reduces it
        across replicas to build the model symbolically. A GAN's networks are
        built in ``__init__`` and its optimizers in ``compile``, so there is
        nothing to build; and under ``MultiWorkerMirroredStrategy`` that
        reduction fails on ``(images, labels)`` batches. Skip it then."""
        unbuilt = not all(layer.built for layer in self._flatten_layers())
        if unbuilt or self.g_optimizer is None or not self.g_optimizer.built:
            return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)
        with self.distribute_strategy.scope():
            self._post_build()

    def _step_logs(self):
        """The step's logs: the trackers' global means.

        Under ``MultiWorkerMirroredStrategy`` Keras 3 reduces each log with
        ``strategy.reduce("MEAN", value, axis=0)``, which fails on a scalar
        (tensorflow/tensorflow#72388); there each value is returned with shape
        ``(1,)`` and that reduction gives back the scalar.
        """
        logs = {m.name: m.result() for m in self.metrics}
        if _multi_worker(self.distribute_strategy):
            logs = {k: tf.reshape(v, (1,)) for k, v in logs.items()}
        return logs

    def _update_ema(self):
        self._ema_step(self.ema_generator, self.generator)

    def _ema_step(self, ema, model):
        """One EMA update of ``ema`` towards ``model`` (nothing when ``ema`` is None)."""
        if ema is None:
            return
        decay = self.ema_decay
        trainable = {id(v) for v in model.trainable_variables}
        for ema_v, v in zip(ema.weights, model.weights):
            if id(v) in trainable:
                ema_v.assign(decay * ema_v + (1.0 - decay) * v)
            else:  # buffers (batch-norm statistics) are copied, as in StyleGAN2-ADA
                ema_v.assign(v)

    # -------------------------------------------------------------- sampling
    @property
    def sampling_generator(self):
        """The generator ``generate`` uses: the EMA one when enabled."""
        return self.ema_generator if self.ema_generator is not None else self.generator

    def latents(self, n, seed=None):
        """Standard-normal latents ``(n, latent_dim)`` from a numpy generator,
        so a seed gives the same latents on every backend and machine."""
        rng = np.random.default_rng(seed)
        return rng.standard_normal((int(n), self.latent_dim)).astype("float32")

    def generator_inputs(self):
        """Specs of the generator's inputs in call order (see :mod:`kerasgan.sampling`):
        what export names and what ``generate`` and the deployment kit draw."""
        return infer_input_specs(self.generator, num_classes=self.num_classes)

    def sample_inputs(self, n, seed=None, labels=None, codes=None):
        """Generator inputs for ``n`` images under the seed rule of
        :mod:`kerasgan.sampling` (the deployment kit draws the same ones)."""
        return draw_inputs(self.generator_inputs(), n, seed=seed, labels=labels, codes=codes)

    def generate(self, n, seed=None, batch_size=256, labels=None, codes=None):
        """Generates ``n`` images.

        Args:
            n: number of images.
            seed: integer seed for the generator inputs (None: fresh randomness).
            batch_size: images per forward pass.
            labels: class labels, required by a conditional family: one int
                for all images, ``n`` ints, or ``"random"`` (drawn uniformly
                from the seed).
            codes: dict fixing other generator inputs by name (InfoGAN's
                ``c_cat``, ``c_cont``): one value for all images or ``n``.

        Returns:
            ``numpy`` float32 array ``(n, H, W, C)`` in [-1, 1] (NHWC), from the
            EMA generator when ``ema_decay`` is set.
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive integer number of images, got {n!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        n = int(n)
        labels = resolve_labels(labels, self.num_classes, self.family)
        inputs = self.sample_inputs(n, seed=seed, labels=labels, codes=codes)
        return self._predict(self.sampling_generator, inputs if len(inputs) > 1 else inputs[0],
                             batch_size)

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

    @staticmethod
    def _predict(model, inputs, batch_size):
        return predict(model, inputs, batch_size)
