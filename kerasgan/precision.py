"""Mixed precision for GANs: the policies, a scope to build models in, the
loss-scale optimizer the train step uses, and float32 copies for export.

Every family trains under ``mixed_float16`` and ``mixed_bfloat16``: layers
compute in the 16-bit type and keep float32 variables. What stays float32:

- the losses: discriminator outputs are cast to float32 before every loss, and
  generated images leave the generator as float32 (its output layer is float32);
- the gradient penalty and R1 (:mod:`kerasgan.penalties`): inputs, the input
  gradient, its norm and square are float32; under ``mixed_float16`` the inner
  gradient is loss-scaled too;
- spectral normalisation: ``u``, ``v``, ``sigma`` and the power iteration are
  float32, ``W / sigma`` is cast to the compute dtype afterwards;
- batch-norm statistics (Keras ``BatchNormalization``, and
  :class:`kerasgan.layers.ConditionalBatchNormalization` the same way);
- exported generators (:func:`float32_copy`).

Under ``mixed_float16`` (float16 underflows below about 6e-8)
:meth:`kerasgan.GAN.compile` wraps *both* optimizers in a dynamic
:class:`LossScaleOptimizer`; ``mixed_bfloat16`` has float32's exponent range
and needs no loss scaling.

Example:
    >>> from kerasgan import precision
    >>> with precision.policy_scope("mixed_bfloat16"):
    ...     gan = kerasgan.models.get(NAME, image_shape=(28, 28, 1))
    ...     gan.compile(jit_compile=True)
    >>> gan.fit(dataset, epochs=1)
"""

import contextlib

import keras

__all__ = [
    "POLICIES",
    "LossScaleOptimizer",
    "check_policy",
    "compute_dtypes",
    "dtype_scope",
    "float32_copy",
    "loss_scale_optimizer",
    "policy_scope",
    "uses_float16",
]

#: the precision policies a run may use.
POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")


def check_policy(name):
    """Validates a precision policy name.

    Args:
        name: one of :data:`POLICIES`, or None (float32).

    Returns:
        The policy name (``"float32"`` for None).

    Raises:
        ValueError: an unknown name; the message lists the choices.
    """
    if name is None:
        return "float32"
    if not isinstance(name, str) or name not in POLICIES:
        raise ValueError(
            f"unknown precision policy {name!r}: choose one of {', '.join(POLICIES)}"
        )
    return name


@contextlib.contextmanager
def _global_policy(policy):
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        yield keras.mixed_precision.global_policy()
    finally:
        keras.mixed_precision.set_global_policy(previous)


def policy_scope(name):
    """Context manager: Keras' global dtype policy is ``name`` inside, and the
    previous policy again afterwards (also when the block raises).

    Models (and their layers) built inside compute in the policy's dtype; a
    built model keeps its policy after the block.

    Args:
        name: one of :data:`POLICIES`, or None (float32).

    Raises:
        ValueError: an unknown name.

    Example:
        >>> with policy_scope("mixed_float16"):
        ...     gan = kerasgan.models.get(NAME, image_shape=(28, 28, 1))
        ...     gan.compile()  # both optimizers loss-scaled
    """
    return _global_policy(check_policy(name))


def dtype_scope(dtype):
    """The scope a GAN family builds its networks in: the global policy set to
    ``dtype`` (a policy name, ``DTypePolicy`` or its config) when given, else
    left as it is. Any Keras float policy is accepted."""
    if dtype is None:
        return contextlib.nullcontext()
    return _global_policy(keras.dtype_policies.get(dtype))


def compute_dtypes(model):
    """The set of compute dtypes of a model's layers (nested ones included)."""
    return {str(layer.compute_dtype) for layer in model._flatten_layers(include_self=True)}


def uses_float16(*models):
    """True when some layer of ``models`` computes in float16 (and so needs
    loss scaling)."""
    return any("float16" in compute_dtypes(m) for m in models if m is not None)


@keras.saving.register_keras_serializable(package="kerasgan")
class LossScaleOptimizer(keras.optimizers.LossScaleOptimizer):
    """Keras' dynamic ``LossScaleOptimizer`` whose ``iterations`` counts every
    step, skipped ones included.

    As Keras': multiply the loss by :meth:`scale_loss` before taking gradients;
    ``apply`` then unscales them and updates the inner optimizer, or, when a
    gradient is not finite, leaves every variable (and the inner optimizer's
    slots and step count) unchanged and halves the scale. The scale doubles
    after ``dynamic_growth_steps`` finite steps.

    The difference: Keras' ``iterations`` is the inner optimizer's, which a
    skipped step does not advance; here it is the wrapper's own counter,
    advanced by every ``apply``, so ``gan.g_optimizer.iterations`` stays the
    number of generator steps run (the step callbacks and logs use) under
    ``mixed_float16`` too. The inner optimizer's ``iterations`` still counts
    applied updates, which is what Adam's bias correction needs.

    Args:
        inner_optimizer: the optimizer to wrap.
        initial_scale: the first loss scale (2**15).
        dynamic_growth_steps: finite steps before the scale doubles (2000).
        name: optimizer name.
    """

    @property
    def iterations(self):
        return self._iterations

    def apply(self, grads, trainable_variables=None):
        super().apply(grads, trainable_variables)
        self._iterations.assign_add(1)


def loss_scale_optimizer(optimizer):
    """``optimizer`` wrapped in a dynamic :class:`LossScaleOptimizer` (returned
    as is when it already is a Keras loss-scale optimizer)."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer
    return LossScaleOptimizer(optimizer, name=f"{optimizer.name}_loss_scale")


def _float32_config(config):
    """A model config with every mixed or 16-bit float dtype policy made float32."""
    if isinstance(config, list):
        return [_float32_config(c) for c in config]
    if not isinstance(config, dict):
        return config
    out = {}
    for key, value in config.items():
        if key == "dtype" and _is_low_precision_policy(value):
            value = "float32"
        out[key] = _float32_config(value)
    return out


def _is_low_precision_policy(value):
    if isinstance(value, dict) and value.get("class_name") in ("DTypePolicy", "FloatDTypePolicy"):
        value = value.get("config", {}).get("name")
    return isinstance(value, str) and value in (
        "mixed_float16", "mixed_bfloat16", "float16", "bfloat16")


def float32_copy(model):
    """A copy of ``model`` whose every layer computes in float32, with the same
    weights: what export writes for a generator trained in mixed precision,
    so the exported graph is float32 inside and out.

    The model is rebuilt from its config with every layer's dtype policy set to
    float32, then given ``model``'s weights (all of them: batch-norm
    statistics and spectral-norm vectors too). A model already computing in
    float32 everywhere is returned as is.

    Args:
        model: a Keras model (functional or sequential; custom layers must be
            registered serializable, as kerasgan's are).

    Returns:
        A float32 ``keras.Model`` with the same name, inputs and outputs.
    """
    if compute_dtypes(model) <= {"float32"} and all(
        str(w.dtype) == "float32" for w in model.weights
    ):
        return model
    config = _float32_config(keras.saving.serialize_keras_object(model))
    with _global_policy("float32"):
        copy = keras.saving.deserialize_keras_object(config)
    copy.set_weights([w.astype("float32") if "float" in str(w.dtype) else w
                      for w in model.get_weights()])
    return copy
