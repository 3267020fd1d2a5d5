"""`AdversarialModel`: the base of every two-player adversarial model."""

import os

import numpy as np
import keras

from kerasgan import augment as augment_lib
from kerasgan import losses as losses_lib
from kerasgan import precision
from kerasgan.core import tf_step
from kerasgan.core.predict import predict
from kerasgan.sampling import draw_inputs, resolve_labels
from kerasgan.utils import check_int

__all__ = ["AdversarialModel", "register_preset_loader", "register_preset_saver"]


def _serialize(obj):
    return keras.saving.serialize_keras_object(obj)


def _deserialize(config):
    return keras.saving.deserialize_keras_object(config)


def _network(value):
    """A network argument: a model, or its serialized config (from a ``.keras`` file)."""
    return _deserialize(value) if isinstance(value, dict) else value


# ------------------------------------------------------------------ presets
_PRESET_LOADER = None


def register_preset_loader(loader):
    """Registers ``loader(name, cls=..., progress=...) -> model``, the function
    :meth:`AdversarialModel.from_preset` calls (the zoo's ``from_preset``).

    The core knows no zoo: the zoo sits above it in the import order and
    resolves an entry's family through the registry (:mod:`kerasgan.models`).
    Importing :mod:`kerasgan.zoo` (``import kerasgan`` does) registers
    :func:`kerasgan.zoo.from_preset`."""
    global _PRESET_LOADER
    _PRESET_LOADER = loader


_PRESET_SAVER = None


def register_preset_saver(saver):
    """Registers ``saver(model, folder, **kw) -> folder``, the function
    :meth:`AdversarialModel.save_to_preset` calls (importing :mod:`kerasgan.zoo`
    registers :func:`kerasgan.zoo.save_to_preset`, as for the loader)."""
    global _PRESET_SAVER
    _PRESET_SAVER = saver


def _cpu_jit_compile():
    """The CPU plan's ``jit_compile`` on a CPU-only machine, else None."""
    import tensorflow as tf

    from kerasgan import cpu

    if tf.config.list_physical_devices("GPU"):
        return None
    return cpu.jit_compile_default()


def _announce_cpu(model):
    import tensorflow as tf

    from kerasgan import cpu

    if tf.config.list_physical_devices("GPU"):
        return
    cpu.announce()
    policy = getattr(model.dtype_policy, "name", "float32")
    if policy in ("mixed_float16", "mixed_bfloat16"):
        if not (policy == "mixed_float16" and model._xla()):
            cpu.warn_precision(policy)


def _without_autotune(args, kwargs):
    """``fit``'s arguments with a ``tf.data.Dataset`` ``x`` whose autotuning
    option is unset turned into one with autotuning off (see ``fit``)."""
    import tensorflow as tf

    if args and isinstance(args[0], tf.data.Dataset):
        return (tf_step.without_autotune(args[0]), *args[1:]), kwargs
    if isinstance(kwargs.get("x"), tf.data.Dataset):
        return args, dict(kwargs, x=tf_step.without_autotune(kwargs["x"]))
    return args, kwargs


class AdversarialModel(keras.Model):
    """Two networks trained against each other with ``fit``: the shared base.

    What every adversarial kind (latent → image :class:`kerasgan.GAN`, image →
    image :class:`kerasgan.core.ImageConditionedGAN`; later encoder-based
    translation and token sequences) gets from here:

    - two players, each a network (or several) and an optimizer: ``generator``
      with ``g_optimizer`` and ``discriminator`` with ``d_optimizer``;
      ``compile`` defaults them (:meth:`default_optimizers`), wraps both in a
      dynamic ``LossScaleOptimizer`` when a network computes in float16, and
      builds each on its variables (:meth:`generator_trainable_variables`,
      :meth:`discriminator_trainable_variables`) inside the strategy scope;
    - the one distribution-correct update, :func:`kerasgan.core.tf_step.minimize`
      (:meth:`minimize` here): the summed per-example loss over the **global**
      batch size, loss scaling, gradients, apply, EMA;
    - EMA copies of the generator(s) (``ema_decay``; :meth:`ema_pairs`);
    - ``keras.metrics.Mean`` trackers created up front (``g_loss``, ``d_loss``
      and one per name of :meth:`penalty_names`), returned by ``metrics``; the
      step's logs are their global means (:meth:`_step_logs`);
    - a ``keras.random.SeedGenerator`` whose state is saved with the model;
    - all-or-nothing ``load_weights`` that refuses another family's file;
    - ``fit`` that reports a bad data batch as one-line ValueError;
    - ``from_preset`` through the preset loader the zoo registers;
    - ``predict``-style inference that is correct under ``MirroredStrategy``.

    Extension points for a new kind (none of them is tied to images or to
    exactly two networks):

    - ``train_step``: the kind's step, written with :meth:`minimize` (and the
      batch layout of :mod:`kerasgan.core.tf_step`); it logs into
      ``g_loss_tracker``, ``d_loss_tracker`` and ``extra_trackers[name]``;
    - :meth:`generator_trainable_variables` /
      :meth:`discriminator_trainable_variables`: what each optimizer updates
      (several networks each: a two-way translator's two generators; an encoder-based translator's encoders and
      generator for one player);
    - :meth:`ema_pairs`: ``(ema copy, network)`` pairs the EMA keeps (a
      second generator, an encoder);
    - :meth:`resolve_losses`: what ``g_loss``/``d_loss`` of ``compile`` mean
      (a token-sequence kind takes a policy-gradient reward instead);
    - :meth:`penalty_names`: the extra per-example terms logged;
    - ``call``: what ``model(x)`` means for the kind (Keras may call it with a
      data batch to build it), and :meth:`generator_inputs` /
      :meth:`generate` for sampling;
    - ``get_config``: a kind or family adds its own arguments.

    Args:
        generator: the generating network (a ``keras.Model``, or its
            serialized config).
        discriminator: the judging network.
        ema_decay: when set (e.g. 0.999), keeps an exponential moving average of
            the generator weights in ``ema_generator``, used for sampling.
        ema_warmup: True to warm the EMA up: after the t-th generator update
            the decay is ``min(ema_decay, (1 + t) / (10 + t))`` (the rule of
            ``tf.train.ExponentialMovingAverage(num_updates=t)``), so that the
            average forgets the initial weights early in training instead of
            keeping ``ema_decay ** t`` of them (0.999 over 2,340 steps: 10%).
            False (the default, as every earlier run): the constant decay.
        seed: seed of the model's ``keras.random.SeedGenerator``: a seeded run
            (same data order) repeats exactly.
        augment: differentiable augmentation of every image the
            discriminator sees, for a kind whose discriminator judges images
            (:attr:`augments_images`): ``"diffaugment[:policies]"``,
            ``"ada[:target]"`` or ``"ada:p=P"`` (see :mod:`kerasgan.augment`
            and docs/augmentation.md); None: none.
        **kwargs: ``keras.Model`` arguments: ``name``, and ``dtype``, the
            dtype policy in which a family builds its networks (saved in the
            config).
    """

    #: registry name of the family (set by ``kerasgan.models.register``).
    family = "adversarial"
    #: loss pair used when ``compile`` gets none.
    default_loss = "non_saturating"
    #: number of classes of a conditional family (None: unconditional).
    num_classes = None
    #: True for a kind whose generator translates input images.
    image_conditioned = False
    #: True for a kind whose discriminator judges images, so that it takes
    #: ``augment`` (DiffAugment / ADA) and logs the over-fitting signal ``r_t``
    augments_images = False

    def __init__(self, generator, discriminator, ema_decay=None, seed=None, augment=None,
                 ema_warmup=False, **kwargs):
        augmentation = augment_lib.parse(augment)
        if augmentation is not None and not self.augments_images:
            raise ValueError(
                f"{getattr(self, 'family', type(self).__name__)} takes no augment: its "
                "discriminator does not judge images (see docs/augmentation.md)")
        super().__init__(**kwargs)
        generator, discriminator = _network(generator), _network(discriminator)
        self._check_ema(ema_decay, ema_warmup)
        self.generator = generator
        self.discriminator = discriminator
        self.ema_decay = None if ema_decay is None else float(ema_decay)
        self.ema_warmup = bool(ema_warmup)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed, name="gan_seed")
        self.ema_generator = self._ema_copy(generator, "ema_generator")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        # Trackers are created here, never inside the step: a variable created in
        # a replica context fails under MirroredStrategy.
        self.extra_trackers = {
            name: keras.metrics.Mean(name=name) for name in self.penalty_names()
        }
        self._init_augmentation(augmentation)
        self.g_optimizer = None
        self.d_optimizer = None
        # which optimizers compile() wrapped in a LossScaleOptimizer itself
        self._loss_scale_wrapped = {"g": False, "d": False}
        self.built = True

    # ------------------------------------------------------------ augmentation
    def _init_augmentation(self, augmentation):
        """The augmentation, its state and the ``r_t`` tracker.

        ADA's ``p`` (``aug_p``) and, when it adapts, its accumulator
        (``aug_stats``: the sum of ``sign(D(real))`` and the count since the
        last adjustment) are model variables, so checkpoints, backups and
        ``save_weights`` keep them and a resumed run goes on with exactly the
        same ``p``. Their aggregation is ``only_first_replica``: every replica
        computes the same value from all-reduced sums."""
        self.augmentation = augmentation
        self.augment = None if augmentation is None else augmentation.spec
        # the step's batch layout, shared by the augmentations of one traced step
        # (a plain dict, outside Keras' attribute tracking)
        object.__setattr__(self, "_layout_cache", {})
        self.aug_p = self.aug_stats = None
        # r_t = E[sign(D(real))] per epoch, logged with or without augmentation
        self.rt_tracker = keras.metrics.Mean(name="r_t") if self.augments_images else None
        if augmentation is None or augmentation.kind != "ada":
            return
        self.aug_p = self.add_weight(
            name="aug_p", shape=(), initializer=keras.initializers.Constant(augmentation.p),
            trainable=False, aggregation="only_first_replica", dtype="float32", autocast=False)
        if augmentation.adaptive:
            self.aug_stats = self.add_weight(
                name="aug_stats", shape=(2,), initializer="zeros", trainable=False,
                aggregation="only_first_replica", dtype="float32", autocast=False)

    def augment_images(self, images):
        """``images`` (this replica's batch) as the discriminator sees them:
        augmented when the model has ``augment`` (fresh draws at each call,
        made for the global batch), else unchanged."""
        if self.augmentation is None:
            return images
        # one layout per traced step: the first call (in the discriminator's
        # loss) all-reduces it, the later ones (a lazy R1 inside tf.cond) reuse it;
        # every image batch a step augments has this replica's batch size
        layout = tf_step.enclosing_graph_value(
            self._layout_cache, lambda: tf_step.batch_layout(tf_step.batch_size(images)))
        return self.augmentation(images, self.seed_generator, p=self.aug_p, layout=layout)

    def observe_real_logits(self, logits):
        """Records ``sign(D(real))`` of this replica's real batch (the
        discriminator step's adversarial logits): the ``r_t`` log and, for an
        adaptive ADA, the accumulator of the next adjustment of ``p``."""
        if self.rt_tracker is None:
            return
        logits = keras.ops.cast(logits, "float32")
        signs = keras.ops.sign(keras.ops.reshape(logits, (keras.ops.shape(logits)[0], -1)))
        per_example = keras.ops.mean(signs, axis=-1)
        self.rt_tracker.update_state(per_example)
        if self.aug_stats is not None:
            count = keras.ops.cast(keras.ops.shape(per_example)[0], "float32")
            total = tf_step.global_sum(keras.ops.stack([keras.ops.sum(per_example), count]))
            self.aug_stats.assign_add(total)

    def adjust_augmentation(self, global_batch):
        """ADA's adjustment, run at the end of each step: every ``interval``
        generator steps ``p`` moves by ``sign(r_t - target) * global_batch *
        interval / speed`` (clipped to [0, 1]) and the accumulator restarts."""
        if self.aug_stats is None:
            return
        aug = self.augmentation
        ops = keras.ops
        due = tf_step.every(self.g_optimizer.iterations, aug.interval)
        signs, count = self.aug_stats[0], self.aug_stats[1]
        r_t = signs / ops.maximum(count, 1.0)
        step = ops.cast(global_batch, "float32") * (aug.interval / aug.speed)
        moved = ops.clip(self.aug_p + ops.sign(r_t - aug.target) * step, 0.0, 1.0)
        self.aug_p.assign(ops.where(due, moved, self.aug_p))
        self.aug_stats.assign(ops.where(due, ops.zeros_like(self.aug_stats), self.aug_stats))

    def _ema_copy(self, network, name):
        """A frozen copy of ``network`` for the EMA (None without ``ema_decay``)."""
        if self.ema_decay is None:
            return None
        ema = keras.models.clone_model(network)
        ema.name = name
        ema.set_weights(network.get_weights())
        ema.trainable = False
        return ema

    @classmethod
    def check_options(cls, options):
        """The family's own check of the options a user set (the constructor
        arguments named in its spec), before any data is read; returns them,
        completed where the family needs to (e.g. a located weights file).

        The base checks ``augment`` and stores its canonical form (what
        ``get_config`` will hold).

        Raises:
            ValueError: one line saying what is wrong and what to do.
        """
        options = dict(options)
        if options.get("augment") is not None:
            parsed = augment_lib.parse(options["augment"])
            options["augment"] = None if parsed is None else parsed.spec
        return options

    def export_metadata(self):
        """Family-specific facts recorded in every export's metadata (a
        super-resolution scale, say); none by default."""
        return {}

    @classmethod
    def from_preset(cls, name, progress=True):
        """The model of zoo entry ``name`` with its pretrained generator
        (downloaded once, sha256-verified, cached), or of a preset: a folder,
        ``hf://...`` or ``kaggle://...`` handle; see :mod:`kerasgan.zoo`.

        Raises:
            ValueError: no preset loader is registered (``import kerasgan``
                registers the zoo's), or the entry is not of this class.
        """
        if _PRESET_LOADER is None:
            raise ValueError("no preset loader is registered: import kerasgan (which "
                             "registers kerasgan.zoo's) before calling from_preset")
        return _PRESET_LOADER(name, cls=cls, progress=progress)

    def save_to_preset(self, folder, **kwargs):
        """Writes this model as a preset folder (config, generator weights,
        metadata with the sha256 of every file; ``metrics=``, ``card=``): see
        :func:`kerasgan.zoo.save_to_preset`. ``from_preset(folder)`` loads it."""
        if _PRESET_SAVER is None:
            raise ValueError("no preset saver is registered: import kerasgan (which "
                             "registers kerasgan.zoo's) before calling save_to_preset")
        return _PRESET_SAVER(self, folder, **kwargs)

    # ------------------------------------------------------------------ config
    def _base_config(self):
        """The config entries every kind has (a kind adds its own arguments)."""
        config = {
            "name": self.name,
            "ema_decay": self.ema_decay,
            "seed": self.seed,
            # the networks' policy: a mixed-precision model loads as one
            "dtype": self.dtype_policy.name,
        }
        if self.augment is not None:  # configs without augmentation stay as they were
            config["augment"] = self.augment
        if self.ema_warmup:  # likewise for the EMA warm-up
            config["ema_warmup"] = True
        return config

    def _networks_config(self):
        """The serialized networks, for the config of a model built from them
        (``GAN(generator, discriminator)``; a family that builds its own
        networks from its arguments leaves them out)."""
        return {"generator": _serialize(self.generator),
                "discriminator": _serialize(self.discriminator)}

    def get_config(self):
        return self._base_config()

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
        for opt in self.optimizers():
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
        self.g_loss_fn, self.d_loss_fn = self.resolve_losses(g_loss, d_loss)
        wrapped = {"g": False, "d": False}
        if auto_scale_loss and precision.uses_float16(*self.networks()):
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
        if kwargs.get("jit_compile", "auto") == "auto" and self.cpu_xla_applies:
            choice = _cpu_jit_compile()
            if choice is not None:
                kwargs["jit_compile"] = choice
        super().compile(optimizer=g_optimizer, auto_scale_loss=False, **kwargs)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        # Build slots now, inside the strategy scope: slots created lazily in the
        # first step fail under MirroredStrategy.
        with self.distribute_strategy.scope():
            self.g_optimizer.build(self.generator_trainable_variables())
            self.d_optimizer.build(self.discriminator_trainable_variables())

    def training_steps(self):
        """Training steps taken (a Python int): what run folders back up and
        resume by. The generator optimizer's ``iterations`` (one generator
        update per step); a kind whose steps do not all update the generator
        (a token-sequence family's discriminator pre-training) counts its own."""
        return int(self.g_optimizer.iterations.numpy())

    def networks(self):
        """The two players' networks whose precision decides loss scaling."""
        return self.generator, self.discriminator

    def optimizers(self):
        """``(g_optimizer, d_optimizer)`` (None before ``compile``)."""
        return self.g_optimizer, self.d_optimizer

    def resolve_losses(self, g_loss, d_loss):
        """``(g_loss_fn, d_loss_fn)`` for the ``g_loss``/``d_loss`` given to
        ``compile``: a name of :mod:`kerasgan.losses` or a callable (None: the
        family's :attr:`default_loss`)."""
        return (losses_lib.get(g_loss or self.default_loss, "generator"),
                losses_lib.get(d_loss or self.default_loss, "discriminator"))

    def generator_trainable_variables(self):
        """What ``g_optimizer`` updates (built on in ``compile``): the
        generator's trainable variables; a family with two generators
        (two-way translation) returns both's."""
        return self.generator.trainable_variables

    def discriminator_trainable_variables(self):
        """What ``d_optimizer`` updates: the discriminator's trainable variables
        (both discriminators' for two-way translation)."""
        return self.discriminator.trainable_variables

    def default_optimizers(self):
        """Optimizers used when ``compile`` is given none (Adam(2e-4, beta_1=0.5), as Radford et al. 2016)."""
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
        rt = [self.rt_tracker] if self.rt_tracker is not None else []
        return [self.g_loss_tracker, self.d_loss_tracker, *self.extra_trackers.values(), *rt]

    def penalty_names(self):
        """Names of the per-example terms the step logs besides the losses
        (penalties, auxiliary losses), each with a ``Mean`` tracker."""
        return []

    # --------------------------------------------------------------- the update
    def minimize(self, role, loss_fn, global_batch, *, variables=None, extra_gradients=None,
                 ema=False, optimizer=None):
        """One update of player ``role`` (``"g"`` or ``"d"``): see
        :func:`kerasgan.core.tf_step.minimize`.

        Args:
            role: ``"g"`` (``g_optimizer`` on
                :meth:`generator_trainable_variables`) or ``"d"``.
            loss_fn: ``loss_fn(recording) -> (per_example_loss, aux)``.
            global_batch: the global batch size.
            variables: the variables to update (default: the role's).
            extra_gradients: ``fn(aux) -> gradients`` added before the update.
            ema: True to update the EMA copies after the update.
            optimizer: another optimizer of the role's variables (built on
                them in ``compile``) for this update (a family with a phase that
                keeps its own optimizer state); default: the role's.

        Returns:
            ``aux``.
        """
        if role == "g":
            optimizer = self.g_optimizer if optimizer is None else optimizer
            variables = self.generator_trainable_variables() if variables is None else variables
        elif role == "d":
            optimizer = self.d_optimizer if optimizer is None else optimizer
            variables = (self.discriminator_trainable_variables() if variables is None
                         else variables)
        else:
            raise ValueError(f"role must be 'g' or 'd', got {role!r}")
        return tf_step.minimize(optimizer, variables, loss_fn, global_batch,
                                extra_gradients=extra_gradients,
                                ema=self._update_ema if ema else None)

    @staticmethod
    def _float32(value):
        """Floating tensors of a (nested) network output cast to float32: every
        loss is computed in float32 under mixed precision."""
        return tf_step.float32(value)

    def ema_pairs(self):
        """``(ema copy, network)`` pairs the EMA update keeps (none without
        ``ema_decay``): the generator's; a two-way family adds its second generator."""
        return [(self.ema_generator, self.generator)]

    @staticmethod
    def _check_ema(ema_decay, ema_warmup):
        """Refuses a decay outside (0, 1) and a warm-up without an EMA."""
        if ema_decay is not None and not 0.0 < float(ema_decay) < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1) or None, got {ema_decay}")
        if ema_warmup and ema_decay is None:
            raise ValueError("ema_warmup needs an ema_decay (e.g. 0.999): without it there "
                             "is no EMA to warm up")

    def ema_decay_now(self):
        """The decay of the next EMA update: ``ema_decay``, or with
        ``ema_warmup`` ``min(ema_decay, (1 + t) / (10 + t))`` where t is the
        number of generator updates made so far (the step counter of
        ``g_optimizer``, saved with it, so that a resumed run continues the
        same schedule)."""
        if not self.ema_warmup:
            return self.ema_decay
        t = keras.ops.cast(self.g_optimizer.iterations, "float32")
        return keras.ops.minimum(self.ema_decay, (1.0 + t) / (10.0 + t))

    def _update_ema(self):
        if self.ema_decay is None:
            return
        decay = self.ema_decay_now()
        for ema, model in self.ema_pairs():
            self._ema_step(ema, model, decay=decay)

    def _ema_step(self, ema, model, decay=None):
        """One EMA update of ``ema`` towards ``model`` (nothing when ``ema`` is
        None), with ``decay`` (default ``ema_decay``; 0 copies the weights)."""
        if ema is None:
            return
        decay = self.ema_decay if decay is None else decay
        trainable = {id(v) for v in model.trainable_variables}
        for ema_v, v in zip(ema.weights, model.weights):
            if id(v) in trainable:
                ema_v.assign(decay * ema_v + (1.0 - decay) * v)
            else:  # buffers (batch-norm statistics) are copied, as in the ADA reference code
                ema_v.assign(v)

    def _step_logs(self):
        """The step's logs: the trackers' global means.

        Under ``MultiWorkerMirroredStrategy`` Keras 3 reduces each log with
        ``strategy.reduce("MEAN", value, axis=0)``, which fails on a scalar
        (tensorflow/tensorflow#72388); there each value is returned with shape
        ``(1,)`` and that reduction gives back the scalar.
        """
        logs = {m.name: m.result() for m in self.metrics}
        if self.aug_p is not None:
            logs["aug_p"] = keras.ops.convert_to_tensor(self.aug_p)
        if tf_step.is_multi_worker(self.distribute_strategy):
            logs = {k: keras.ops.reshape(v, (1,)) for k, v in logs.items()}
        return logs

    def zoo_networks(self, ema=True):
        """The model whose weights a zoo entry's ``generator`` file holds: the
        sampling generator (``ema=False``: the trained one, which
        ``from_preset`` loads and then copies into the EMA). A family whose
        inference needs more networks (an encoder-based translator's translators and encoders)
        returns one model holding them all."""
        return self.sampling_generator if ema else self.generator

    # ------------------------------------------------------------------ fit
    def _xla(self):
        return bool(getattr(self, "jit_compile", False))

    #: whether ``compile()`` left at its default takes the CPU plan's XLA
    #: choice (:func:`kerasgan.cpu.jit_compile_default`) on a CPU-only machine.
    cpu_xla_applies = True

    def fit(self, *args, **kwargs):
        """``keras.Model.fit``; a bad data batch (labels out of range, pixels
        outside [-1, 1], NaN) raises a one-line ValueError, and a dataset that
        yields no batch is an error too.

        The first ``fit`` of a process prints the CPU configuration
        (:mod:`kerasgan.cpu`), and warns when the precision policy is slow on
        this CPU. A ``tf.data.Dataset`` whose ``autotune.enabled`` option you
        did not set trains with tf.data's autotuning off: deleting an
        autotuned iterator at the end of ``fit`` waits for the autotuner's
        next wake-up, a pause of up to a minute (docs/training.md)."""
        _announce_cpu(self)
        args, kwargs = _without_autotune(args, kwargs)
        try:
            history = super().fit(*args, **kwargs)
        except tf_step.InputCheckError as e:
            found = tf_step.bad_batch_message(e)
            if found:
                raise ValueError(f"{self.family}: bad data batch: {found}") from None
            raise
        if not history.history and kwargs.get("epochs", 1) > kwargs.get("initial_epoch", 0):
            raise ValueError(
                f"{self.family}: the dataset yielded no batch, so nothing was trained: check "
                "that it is not empty (and that drop_remainder leaves a batch)"
            )
        return history

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        """Keras' ``fit`` takes a first batch and, under a strategy, reduces it
        across replicas to build the model symbolically. The networks are built
        in ``__init__`` and the optimizers in ``compile``, so there is nothing
        to build; and under ``MultiWorkerMirroredStrategy`` that reduction
        fails on ``(images, labels)`` batches. Skip it then."""
        unbuilt = not all(layer.built for layer in self._flatten_layers())
        if unbuilt or self.g_optimizer is None or not self.g_optimizer.built:
            return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)
        with self.distribute_strategy.scope():
            self._post_build()

    # -------------------------------------------------------------- sampling
    @property
    def sampling_generator(self):
        """The generator sampling uses: the EMA one when enabled."""
        return self.ema_generator if self.ema_generator is not None else self.generator

    def generator_inputs(self):
        """Specs of the generator's inputs in call order (see
        :mod:`kerasgan.sampling`): what export names and what ``generate`` and
        the deployment kit draw. Each kind defines it."""
        raise NotImplementedError(f"{type(self).__name__} does not define generator_inputs()")

    def sample_inputs(self, n, seed=None, labels=None, codes=None):
        """Generator inputs for ``n`` samples under the seed rule of
        :mod:`kerasgan.sampling` (the deployment kit draws the same ones)."""
        return draw_inputs(self.generator_inputs(), n, seed=seed, labels=labels, codes=codes)

    def generate(self, n, seed=None, batch_size=256, labels=None, codes=None):
        """Generates ``n`` samples from generator inputs drawn from ``seed``.

        Args:
            n: number of samples.
            seed: integer seed for the generator inputs (None: fresh randomness).
            batch_size: samples per forward pass.
            labels: class labels, required by a conditional family: one int
                for all samples, ``n`` ints, or ``"random"`` (drawn uniformly
                from the seed).
            codes: dict fixing other generator inputs by name (information codes'
                ``c_cat``, ``c_cont``): one value for all samples or ``n``.

        Returns:
            ``numpy`` float32 array ``(n, ...)``; for the image kinds ``(n, H,
            W, C)`` in [-1, 1] (NHWC), from the EMA generator when
            ``ema_decay`` is set.
        """
        n = check_int(n, "n", expected="a positive integer number of images")
        batch_size = check_int(batch_size, "batch_size")
        labels = resolve_labels(labels, self.num_classes, self.family)
        inputs = self.sample_inputs(n, seed=seed, labels=labels, codes=codes)
        return self._predict(self.sampling_generator, inputs if len(inputs) > 1 else inputs[0],
                             batch_size)

    @staticmethod
    def _predict(model, inputs, batch_size):
        return predict(model, inputs, batch_size)
