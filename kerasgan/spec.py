"""What a family declares about itself: its kind, the batch it trains on, its options.

A family is a class plus a :class:`FamilySpec`, set as the class attribute
``spec`` next to the class (``kerasgan.models.register`` checks it). Everything
outside ``kerasgan/models/`` reads the spec instead of naming families: the
``kerasgan train NAME`` parser and its "does not apply" errors, the run record,
sampling, evaluation and export.

This module imports neither TensorFlow nor Keras, so ``kerasgan --help`` and
``kerasgan families`` stay fast.

Example:
    >>> spec = FamilySpec(
    ...     kind=LATENT_TO_IMAGE, batch="images", summary="Deep convolutional GAN",
    ...     options=(Option("latent_dim", int, 100, "size of z"),
    ...              Option("width", int, 64, "network width (channels)")),
    ...     recommended={"epochs": 20, "batch_size": 128})
"""

import dataclasses
import inspect
import math

from kerasgan.utils import is_int

#: noise (and labels, codes) -> image: convolutional, conditional, progressive, style-based
LATENT_TO_IMAGE = "latent_to_image"
#: image -> image: paired, unpaired and super-resolution translation
IMAGE_TO_IMAGE = "image_to_image"
#: token ids: text and other discrete sequences
TOKEN_SEQUENCE = "token_sequence"
#: image -> image through content and attribute encoders: many outputs per input
ENCODER_TRANSLATION = "encoder_translation"
KINDS = (LATENT_TO_IMAGE, IMAGE_TO_IMAGE, TOKEN_SEQUENCE, ENCODER_TRANSLATION)

#: what a data batch is (``kerasgan.data.batches`` opens each from a run record)
BATCHES = ("images", "labelled_images", "pairs", "unpaired", "super_resolution", "sequences")

#: how a family uses class labels
LABELS_NONE, LABELS_OPTIONAL, LABELS_REQUIRED = "none", "optional", "required"


class OptionError(ValueError):
    """A bad option value; the message names the option and what to do."""


class _FromSignature:
    """The default of an option declared without one: the constructor's."""

    def __repr__(self):
        return "<from the constructor>"


FROM_SIGNATURE = _FromSignature()


@dataclasses.dataclass(frozen=True)
class Option:
    """One option of a family (a constructor argument) or of a batch kind.

    Args:
        name: the argument name (``latent_dim``); the command-line flag is
            ``--latent-dim``.
        type: ``int``, ``float``, ``str`` or ``bool`` (a flag that takes no
            value); None: the type of the default.
        default: the value used when the option is not given (shown in
            ``--help``); None: decided by the family (``help`` says how). By
            default, the family constructor's default (filled in by
            ``kerasgan.models.register``).
        help: one sentence.
        choices: allowed values, or None.
        minimum: smallest allowed value of a number, or None.
        metavar: the placeholder shown in ``--help``.
    """

    name: str
    type: type = None
    default: object = FROM_SIGNATURE
    help: str = ""
    choices: tuple = None
    minimum: float = None
    metavar: str = None

    @property
    def flag(self):
        return "--" + self.name.replace("_", "-")

    def parse(self, text):
        """The option's value from command-line text.

        Raises:
            OptionError: one line naming the flag and what it takes.
        """
        if self.type is bool:
            return bool(text)
        try:
            value = self.type(text)
        except (TypeError, ValueError):
            kind = {int: "an integer", float: "a number", str: "a string"}[self.type]
            raise OptionError(f"{self.flag} must be {kind}, got {text!r}") from None
        return self.check(value)

    def check(self, value):
        """``value`` checked against the type, the choices and the minimum."""
        if value is None:
            return value
        if self.type is int and not is_int(value):
            raise OptionError(f"{self.flag} must be an integer, got {value!r}")
        if self.type is float and not math.isfinite(float(value)):
            raise OptionError(f"{self.flag} must be a finite number, got {value!r}")
        if self.choices is not None and value not in self.choices:
            raise OptionError(f"{self.flag} must be one of {', '.join(map(str, self.choices))}, "
                              f"got {value!r}")
        if self.minimum is not None and value < self.minimum:
            least = "at least" if self.type is int else "≥"
            raise OptionError(f"{self.flag} must be {least} {self.minimum:g}, got {value}")
        return int(value) if self.type is int else value

    def resolved(self, cls):
        """This option with the default and type taken from ``cls``'s
        constructor (the first class of its MRO that declares the argument)
        where they were left open."""
        default = self.default
        if default is FROM_SIGNATURE:
            default = None
            for klass in cls.__mro__:
                init = klass.__dict__.get("__init__")
                if init is None:
                    continue
                parameter = inspect.signature(init).parameters.get(self.name)
                if parameter is not None and parameter.default is not inspect.Parameter.empty:
                    default = parameter.default
                    break
        if isinstance(default, tuple):
            default = list(default)
        kind = self.type
        if kind is None:
            kind = type(default) if isinstance(default, (bool, int, float, str)) else float
        return dataclasses.replace(self, default=default, type=kind)

    def describe(self):
        """The help text with the default."""
        if self.type is bool:
            return self.help
        if self.default is None:
            return f"{self.help} (not set by default)"
        return f"{self.help} (default: {self.default!r})"


@dataclasses.dataclass(frozen=True)
class FamilySpec:
    """A family's declaration.

    Args:
        kind: one of :data:`KINDS`.
        batch: one of :data:`BATCHES`: what the data yields.
        summary: one line for ``kerasgan families`` and ``--help``.
        options: the family's :class:`Option` s (constructor arguments a user
            sets; the data decides ``image_shape``, ``num_classes``, ...).
        labels: :data:`LABELS_NONE`, :data:`LABELS_OPTIONAL` (takes
            ``num_classes`` when the data has labels) or :data:`LABELS_REQUIRED`.
        recommended: recommended run settings (``epochs``, ``batch_size``,
            option values), shown in ``--help``.
        sample_options: options of ``kerasgan sample`` / ``evaluate`` that map
            to named generator inputs (``codes``), e.g. a truncation.
        directions: for a two-way translation family, the generators it can
            export (``("AtoB", "BtoA")``); empty for one.
        excluded_data_options: names of the batch kind's data options that do
            not apply to this family (``("jitter",)``, say).
        excluded_common_options: names of the kind's common options (its base
            class's arguments) that do not apply (``("r1_gamma",)`` for a
            family whose own gradient penalty replaces R1).
        references: the papers.
    """

    kind: str
    batch: str
    summary: str
    options: tuple = ()
    labels: str = LABELS_NONE
    recommended: dict = dataclasses.field(default_factory=dict)
    sample_options: tuple = ()
    directions: tuple = ()
    excluded_data_options: tuple = ()
    excluded_common_options: tuple = ()
    references: tuple = ()

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.batch not in BATCHES:
            raise ValueError(f"batch must be one of {BATCHES}, got {self.batch!r}")
        if self.labels not in (LABELS_NONE, LABELS_OPTIONAL, LABELS_REQUIRED):
            raise ValueError(f"labels must be none, optional or required, got {self.labels!r}")
        names = [o.name for o in self.options]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate option names in {names}")

    def resolved(self, cls):
        """This spec with the kind's common options added and every option's
        default and type filled in from ``cls``'s constructor."""
        own = {o.name for o in self.options}
        common = tuple(o for o in COMMON_OPTIONS.get(self.kind, ())
                       if o.name not in own and o.name not in self.excluded_common_options)
        return dataclasses.replace(
            self, options=tuple(o.resolved(cls) for o in self.options + common),
            sample_options=tuple(o.resolved(cls) for o in self.sample_options))

    def option(self, name):
        """The option called ``name``, or None."""
        for option in self.options + self.sample_options:
            if option.name == name:
                return option
        return None

    @property
    def image_to_image(self):
        """True when the generator takes images (image → image, and the
        encoder-based translation kind)."""
        return self.kind in (IMAGE_TO_IMAGE, ENCODER_TRANSLATION)

    def to_json(self):
        """A JSON-able summary (for run records and ``families --json``)."""
        return {
            "kind": self.kind, "batch": self.batch, "summary": self.summary,
            "labels": self.labels,
            "options": {o.name: o.default for o in self.options},
            "recommended": dict(self.recommended),
        }


#: the augmentation option of the kinds whose discriminator judges images
AUGMENT_OPTION = Option(
    "augment", str, help="differentiable augmentation of every image the discriminator sees "
    "(docs/augmentation.md): diffaugment[:color,translation,cutout], ada[:target] (adaptive "
    "p, target 0.6) or ada:p=P (fixed)", metavar="SPEC")

#: the EMA warm-up flag of the kinds that keep an EMA of their generators
EMA_WARMUP_OPTION = Option(
    "ema_warmup", bool, help="warm the EMA up: decay min(ema-decay, (1+t)/(10+t)) after t "
    "generator steps, so the average forgets the initial weights early (docs/training.md)")

#: options every family of a kind takes (its base class's arguments)
COMMON_OPTIONS = {
    LATENT_TO_IMAGE: (
        Option("ema_decay", float, help="keep an EMA generator with this decay (e.g. 0.999); "
               "samples and exports use it", minimum=0.0),
        EMA_WARMUP_OPTION,
        Option("d_steps", int, help="discriminator steps per generator step", minimum=1),
        Option("r1_gamma", float, help="weight γ of the R1 penalty γ/2·|∇D(real)|² on the "
               "discriminator (0: off)", minimum=0.0),
        AUGMENT_OPTION,
    ),
    IMAGE_TO_IMAGE: (
        Option("ema_decay", float, help="keep an EMA generator with this decay (e.g. 0.999); "
               "samples and exports use it", minimum=0.0),
        EMA_WARMUP_OPTION,
        AUGMENT_OPTION,
    ),
    ENCODER_TRANSLATION: (
        Option("ema_decay", float, help="keep EMA copies of the translators and attribute "
               "encoders with this decay (e.g. 0.999); samples and exports use them",
               minimum=0.0),
        EMA_WARMUP_OPTION,
        AUGMENT_OPTION,
    ),
    TOKEN_SEQUENCE: (
        Option("pretrain_steps", int, help="steps of maximum-likelihood pre-training of the "
               "generator (teacher forcing) before the adversarial phases", minimum=0),
    ),
}


__all__ = ["Option", "OptionError", "FamilySpec", "KINDS", "BATCHES", "LATENT_TO_IMAGE",
           "IMAGE_TO_IMAGE", "TOKEN_SEQUENCE", "ENCODER_TRANSLATION", "LABELS_NONE",
           "LABELS_OPTIONAL", "LABELS_REQUIRED"]
