"""Spectral normalisation as a reparametrisation (Miyato et al. 2018).

The layers here keep the raw weight ``W`` as the trainable variable and use
``W_sn = W / sigma(W)`` in every forward pass, with
``sigma(W) = u^T W_mat v`` computed from two stored, non-trainable vectors.
Gradients flow through ``W`` in the numerator and in ``sigma``; ``u`` and ``v``
are constants of the forward pass. Updating ``u`` and ``v`` is a separate,
explicit operation: :meth:`power_iteration` on one layer, or
:func:`power_iterate` on a whole model, called once per discriminator update.

Convention: ``W_mat`` is the weight reshaped to ``(-1, out_features)``: the
kernel ``(in, units)`` of ``Dense``, the kernel ``(kh, kw, in, filters)`` of
``Conv2D`` as ``(kh * kw * in, filters)``, the ``(input_dim, output_dim)``
table of ``Embedding``. ``u`` has ``W_mat.shape[0]`` entries (left singular
vector), ``v`` has ``W_mat.shape[1]`` (right singular vector), and one power
iteration is::

    v = normalize(W_mat^T u)
    u = normalize(W_mat v)

so ``sigma = u^T W_mat v`` estimates the largest singular value of ``W_mat``.
At build time ``u`` is a normal draw, normalised, improved by 15 iterations,
and ``v = normalize(W_mat^T u)``, so ``sigma`` is accurate from the first step.
``normalize(x) = x / max(||x||_2, eps)``, as ``torch.nn.functional.normalize``.

Mixed precision: ``W``, ``u`` and ``v`` are float32 variables (the policy's
variable dtype) and ``sigma``, ``W / sigma`` and the power iteration are
computed in that dtype, never in float16 or bfloat16 (a norm of a few hundred
squares loses most of its digits there); only the normalised weight is cast to
the layer's compute dtype for the matmul, convolution or lookup. So the
layers' variables are created with ``autocast=False`` (Keras never casts them
to the compute dtype on read) and the layers cast the normalised weight and the
bias to the compute dtype themselves.
"""

import keras
from keras import ops

from kerasgan.utils import check_int

__all__ = [
    "SNDense",
    "SNConv2D",
    "SNEmbedding",
    "SpectralNormalizationMixin",
    "power_iterate",
    "spectral_norm_layers",
]

# Power iterations run when the layer is built, so that sigma is accurate from
# the first step (PyTorch's spectral_norm does 15 as well).
INITIAL_POWER_ITERATIONS = 15


def _normalize(x, eps):
    return x / ops.maximum(ops.sqrt(ops.sum(ops.square(x))), eps)


def _power_iteration(matrix, u, iterations, eps):
    """``iterations`` steps of ``v = normalize(W^T u); u = normalize(W v)``."""
    v = None
    for _ in range(iterations):
        v = _normalize(ops.matmul(ops.transpose(matrix), ops.expand_dims(u, 1))[:, 0], eps)
        u = _normalize(ops.matmul(matrix, ops.expand_dims(v, 1))[:, 0], eps)
    return u, v


class SpectralNormalizationMixin:
    """Shared logic of the spectrally normalised layers.

    A subclass also inherits from a Keras layer, calls :meth:`_sn_init` after
    ``super().__init__`` and :meth:`_sn_build` at the end of ``build``, implements
    :meth:`_sn_variable` (the raw weight variable) and uses
    :meth:`normalized_weight` in ``call``.
    """

    def _sn_init(self, power_iterations, eps, kwargs):
        power_iterations = check_int(power_iterations, "power_iterations")
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps!r}")
        for name in ("lora_rank", "quantization_config"):
            if kwargs.get(name) is not None:
                raise ValueError(f"{type(self).__name__} does not support {name}")
        self.power_iterations = power_iterations
        self.eps = float(eps)

    def add_weight(self, *args, **kwargs):
        # W (and u, v, the bias) are read in their float32 variable dtype
        # inside call, never autocast to a 16-bit compute dtype, so sigma and
        # W / sigma are float32; call casts the result. (A layer's own
        # `autocast = False` is not enough: Keras still autocasts the
        # variables of a mixed-policy layer called outside any model.)
        kwargs["autocast"] = False
        return super().add_weight(*args, **kwargs)

    # -- per layer -----------------------------------------------------------
    def _sn_variable(self):
        """The raw (trainable) weight variable: the kernel (Embedding overrides)."""
        return self._kernel

    def build(self, input_shape=None):
        """The parent's build, then u and v (from the just-created weight)."""
        if self.built:
            return
        super().build(input_shape)
        self._sn_build()

    # -- building ----------------------------------------------------------
    def _sn_matrix(self, weight):
        return ops.reshape(weight, (-1, weight.shape[-1]))

    def _sn_matrix_shape(self):
        shape = tuple(self._sn_variable().shape)
        cols = int(shape[-1])
        rows = 1
        for dim in shape[:-1]:
            rows *= int(dim)
        return rows, cols

    def _sn_constant_matrix(self, dtype):
        variable = self._sn_variable()
        return ops.stop_gradient(self._sn_matrix(ops.cast(ops.convert_to_tensor(variable), dtype)))

    def _sn_initial_u(self, shape, dtype=None):
        """u from a normal draw, normalised, then INITIAL_POWER_ITERATIONS iterations."""
        # Runs where the variable is initialised: eagerly, inside the
        # tf.function that first calls the layer (TensorFlow then initialises
        # u once, after the kernel, as any variable-dependent initial value),
        # or later when Keras initialises deferred variables (in creation
        # order, so after the kernel).
        dtype = dtype or self.variable_dtype
        matrix = self._sn_constant_matrix(dtype)
        u = keras.initializers.RandomNormal(0.0, 1.0)(shape=shape, dtype=dtype)
        u = _normalize(u, self.eps)
        # The first iteration starts with "v = normalize(W^T u)".
        u, _ = _power_iteration(matrix, u, INITIAL_POWER_ITERATIONS, self.eps)
        return u

    def _sn_initial_v(self, shape, dtype=None):
        """v = normalize(W^T u), from the initial u."""
        dtype = dtype or self.variable_dtype
        matrix = self._sn_constant_matrix(dtype)
        u = ops.cast(ops.convert_to_tensor(self.u), dtype)
        return _normalize(ops.matmul(ops.transpose(matrix), ops.expand_dims(u, 1))[:, 0], self.eps)

    def _sn_build(self):
        rows, cols = self._sn_matrix_shape()
        # the variable dtype (float32 under a mixed policy), not the compute dtype
        dtype = self.variable_dtype
        # Non-trainable, read-only in the forward pass, written by
        # power_iteration(); "only_first_replica" makes that write legal in a
        # MirroredStrategy replica context and identical on every replica.
        self.u = self._sn_vector("sn_u", rows, self._sn_initial_u, dtype)
        self.v = self._sn_vector("sn_v", cols, self._sn_initial_v, dtype)

    def _sn_vector(self, name, size, initializer, dtype):
        return self.add_weight(
            name=name,
            shape=(size,),
            initializer=initializer,
            dtype=dtype,
            trainable=False,
            autocast=False,
            aggregation="only_first_replica",
        )

    def _sn_reset_vectors(self):
        self.u.assign(self._sn_initial_u(self.u.shape, self.u.dtype))
        self.v.assign(self._sn_initial_v(self.v.shape, self.v.dtype))

    # -- public ------------------------------------------------------------
    def _sn_check_built(self, what):
        if not self.built:
            raise ValueError(f"{type(self).__name__} '{self.name}' must be built before {what}")

    def _sn_sigma(self, weight):
        matrix = self._sn_matrix(weight)
        u = ops.stop_gradient(ops.cast(self.u, matrix.dtype))
        v = ops.stop_gradient(ops.cast(self.v, matrix.dtype))
        return ops.sum(u * ops.matmul(matrix, ops.expand_dims(v, 1))[:, 0])

    def sigma(self):
        """The current estimate of the largest singular value of ``W_mat``.

        Returns:
            A scalar tensor ``u^T W_mat v`` (differentiable w.r.t. ``W``; ``u``
            and ``v`` are treated as constants).

        Raises:
            ValueError: the layer is not built.
        """
        self._sn_check_built("sigma()")
        return self._sn_sigma(ops.convert_to_tensor(self._sn_variable()))

    def normalized_weight(self):
        """The weight used by the forward pass, ``W / sigma``, in ``W``'s shape.

        Computed in the variable dtype (float32 under mixed precision); the
        forward pass casts it to the compute dtype.

        Returns:
            A tensor with the shape of the raw kernel (embedding table).

        Raises:
            ValueError: the layer is not built.
        """
        self._sn_check_built("normalized_weight()")
        weight = ops.convert_to_tensor(self._sn_variable())
        return weight / self._sn_sigma(weight)

    def power_iteration(self):
        """Runs ``power_iterations`` power iterations and assigns ``u`` and ``v``.

        Each iteration is ``v = normalize(W_mat^T u); u = normalize(W_mat v)``,
        with ``W`` read as a constant. This is the only place where ``u`` and
        ``v`` change after building; call it once per discriminator update
        (see :func:`power_iterate`). Works eagerly, inside ``tf.function``,
        under XLA and inside ``MirroredStrategy.run`` (the first replica's value
        is written to every replica).

        Raises:
            ValueError: the layer is not built.
        """
        self._sn_check_built("power_iteration()")
        matrix = self._sn_constant_matrix(self.u.dtype)
        u, v = _power_iteration(matrix, ops.convert_to_tensor(self.u), self.power_iterations, self.eps)
        self.u.assign(u)
        self.v.assign(v)

    # -- Keras plumbing ----------------------------------------------------
    def _sn_raw_variables(self):
        variables = [self._sn_variable()]
        if getattr(self, "bias", None) is not None:
            variables.append(self.bias)
        return variables

    def save_own_variables(self, store):
        # The parents save a fixed list (kernel, bias) and would drop u and v.
        if not self.built:
            return
        for i, variable in enumerate(self._sn_raw_variables() + [self.u, self.v]):
            store[str(i)] = variable

    def load_own_variables(self, store):
        """Loads ``[W, bias?, u, v]``; plain parent weights re-initialise u, v."""
        if not self.built:
            self._check_load_own_variables(store)
            return
        raw = self._sn_raw_variables()
        count = len(store.keys())
        if count == len(raw) + 2:
            for i, variable in enumerate(raw + [self.u, self.v]):
                variable.assign(store[str(i)])
        elif count == len(raw):
            # Weights saved by the plain Keras layer: no u, v to restore.
            for i, variable in enumerate(raw):
                variable.assign(store[str(i)])
            self._sn_reset_vectors()
        else:
            raise ValueError(
                f"Layer '{self.name}' expected {len(raw) + 2} variables "
                f"({[v.name for v in raw + [self.u, self.v]]}), "
                f"but received {count} variables during loading."
            )

    def enable_lora(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not support LoRA")

    def quantize(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not support quantization")

    def _sn_config(self):
        return {"power_iterations": self.power_iterations, "eps": self.eps}


@keras.saving.register_keras_serializable(package="kerasgan")
class SNDense(SpectralNormalizationMixin, keras.layers.Dense):
    """Spectrally normalised ``Dense``: ``activation(x @ (W / sigma) + b)``.

    ``layer.kernel`` is the raw trainable ``W`` ``(in, units)``; the forward
    pass (training or not) uses ``W / sigma`` with ``sigma = u^T W v`` from the
    stored vectors ``u`` ``(in,)`` and ``v`` ``(units,)``. The forward pass
    never changes ``u`` or ``v``: call :meth:`power_iteration` (or
    :func:`power_iterate` on the model) once per discriminator update.

    Args:
        units: output size.
        power_iterations: iterations per :meth:`power_iteration` call.
        eps: floor of the norm in ``normalize``.
        **kwargs: the arguments of ``keras.layers.Dense`` (activation,
            use_bias, initializers, regularizers, constraints, name, dtype);
            ``lora_rank`` and ``quantization_config`` are not supported.

    Raises:
        ValueError: ``power_iterations < 1``, ``eps <= 0``, or LoRA/quantization
            arguments.

    References:
        Miyato, Kataoka, Koyama, Yoshida, "Spectral Normalization for
        Generative Adversarial Networks", ICLR 2018, arXiv:1802.05957.

    Example:
        >>> layer = SNDense(8)
        >>> y = layer(np.ones((2, 4), "float32"))
        >>> layer.power_iteration()  # once per discriminator update
        >>> float(layer.sigma()) > 0
        True
    """

    def __init__(self, units, power_iterations=1, eps=1e-12, **kwargs):
        super().__init__(units, **kwargs)
        self._sn_init(power_iterations, eps, kwargs)

    def call(self, inputs, training=None):
        dtype = self.compute_dtype
        x = ops.matmul(ops.cast(inputs, dtype), ops.cast(self.normalized_weight(), dtype))
        if self.bias is not None:
            x = ops.add(x, ops.cast(self.bias, dtype))
        if self.activation is not None:
            x = self.activation(x)
        return x

    def get_config(self):
        return {**super().get_config(), **self._sn_config()}


@keras.saving.register_keras_serializable(package="kerasgan")
class SNConv2D(SpectralNormalizationMixin, keras.layers.Conv2D):
    """Spectrally normalised ``Conv2D``: the convolution uses ``W / sigma``.

    ``layer.kernel`` is the raw trainable ``W`` ``(kh, kw, in, filters)``;
    ``sigma = u^T W_mat v`` with ``W_mat = W.reshape(kh * kw * in, filters)``,
    ``u`` ``(kh * kw * in,)`` and ``v`` ``(filters,)``. Strides, padding,
    dilation, groups, data format, bias and activation are those of
    ``keras.layers.Conv2D``. The forward pass never changes ``u`` or ``v``:
    call :meth:`power_iteration` (or :func:`power_iterate`) once per update.

    Args:
        filters: output channels.
        kernel_size: int or (int, int).
        power_iterations: iterations per :meth:`power_iteration` call.
        eps: floor of the norm in ``normalize``.
        **kwargs: the other arguments of ``keras.layers.Conv2D``; ``lora_rank``
            is not supported.

    Raises:
        ValueError: ``power_iterations < 1``, ``eps <= 0``, or LoRA arguments.

    References:
        Miyato, Kataoka, Koyama, Yoshida, "Spectral Normalization for
        Generative Adversarial Networks", ICLR 2018, arXiv:1802.05957.

    Example:
        >>> conv = SNConv2D(16, 4, strides=2, padding="same")
        >>> y = conv(np.ones((1, 8, 8, 3), "float32"))
        >>> y.shape
        (1, 4, 4, 16)
    """

    def __init__(self, filters, kernel_size, power_iterations=1, eps=1e-12, **kwargs):
        super().__init__(filters, kernel_size, **kwargs)
        self._sn_init(power_iterations, eps, kwargs)

    def call(self, inputs):
        dtype = self.compute_dtype
        outputs = self.convolution_op(ops.cast(inputs, dtype),
                                      ops.cast(self.normalized_weight(), dtype))
        if self.use_bias:
            if self.data_format == "channels_last":
                bias_shape = (1,) * (self.rank + 1) + (self.filters,)
            else:
                bias_shape = (1, self.filters) + (1,) * self.rank
            outputs = ops.add(outputs, ops.reshape(ops.cast(self.bias, dtype), bias_shape))
        if self.activation is not None:
            return self.activation(outputs)
        return outputs

    def get_config(self):
        return {**super().get_config(), **self._sn_config()}


@keras.saving.register_keras_serializable(package="kerasgan")
class SNEmbedding(SpectralNormalizationMixin, keras.layers.Embedding):
    """Spectrally normalised ``Embedding`` (the projection discriminator's table).

    ``layer.embeddings`` is the raw trainable table ``(input_dim, output_dim)``;
    lookups read ``table / sigma``, with ``sigma = u^T table v``, ``u``
    ``(input_dim,)``, ``v`` ``(output_dim,)``. The forward pass never changes
    ``u`` or ``v``: call :meth:`power_iteration` (or :func:`power_iterate`).

    Args:
        input_dim: number of classes (rows).
        output_dim: embedding size.
        power_iterations: iterations per :meth:`power_iteration` call.
        eps: floor of the norm in ``normalize``.
        **kwargs: the other arguments of ``keras.layers.Embedding``;
            ``weights``, ``lora_rank`` and ``quantization_config`` are not
            supported.

    Raises:
        ValueError: ``power_iterations < 1``, ``eps <= 0``, or unsupported
            arguments.

    References:
        Miyato, Kataoka, Koyama, Yoshida, "Spectral Normalization for
        Generative Adversarial Networks", ICLR 2018, arXiv:1802.05957.
        Miyato, Koyama, "cGANs with Projection Discriminator", ICLR 2018,
        arXiv:1802.05637.

    Example:
        >>> embed = SNEmbedding(10, 64)
        >>> embed(np.array([3, 7])).shape
        (2, 64)
    """

    def __init__(self, input_dim, output_dim, power_iterations=1, eps=1e-12, **kwargs):
        if kwargs.get("weights") is not None:
            raise ValueError("SNEmbedding does not support weights=; assign layer.embeddings after building")
        super().__init__(input_dim, output_dim, **kwargs)
        self._sn_init(power_iterations, eps, kwargs)

    def _sn_variable(self):
        return self._embeddings

    def call(self, inputs):
        if inputs.dtype != "int32" and inputs.dtype != "int64":
            inputs = ops.cast(inputs, "int32")
        # W / sigma in float32, looked up, then cast to the compute dtype
        outputs = ops.take(self.normalized_weight(), inputs, axis=0)
        return ops.cast(outputs, dtype=self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), **self._sn_config()}


def spectral_norm_layers(model):
    """Every spectrally normalised layer inside a model, layer or list of them.

    Walks nested models and layers depth first, in tracking order; a layer
    shared by several parents is listed once.

    Args:
        model: a ``keras.layers.Layer`` (a model is one) or a list/tuple of them.

    Returns:
        A list of :class:`SNDense`, :class:`SNConv2D`, :class:`SNEmbedding`
        (or other ``SpectralNormalizationMixin``) layers.

    Raises:
        TypeError: ``model`` is not a layer or a sequence of layers.

    Example:
        >>> [l.name for l in spectral_norm_layers(discriminator)]
        ['sn_conv2d', 'sn_dense']
    """
    found, seen = [], set()

    def visit(layer):
        if not isinstance(layer, keras.layers.Layer):
            raise TypeError(f"expected a keras layer or model, got {type(layer).__name__}")
        if id(layer) in seen:
            return
        seen.add(id(layer))
        if isinstance(layer, SpectralNormalizationMixin):
            found.append(layer)
        for sublayer in layer._flatten_layers(include_self=False, recursive=False):
            visit(sublayer)

    for item in model if isinstance(model, (list, tuple)) else [model]:
        visit(item)
    return found


def power_iterate(model):
    """Runs :meth:`power_iteration` once on every spectrally normalised layer.

    Call it exactly once per discriminator update, before the update's forward
    passes (as PyTorch's ``spectral_norm`` does at the start of its first
    training-mode forward): then ``u``/``v`` move once per step, not once per
    real/fake/generator pass, and never at inference. Safe inside
    ``tf.function``, XLA and ``MirroredStrategy.run``.

    Args:
        model: a ``keras.layers.Layer``/``keras.Model``, possibly nested, or a
            list/tuple of them.

    Returns:
        The number of layers updated (a Python int).

    Raises:
        ValueError: one of the layers is not built yet.
        TypeError: ``model`` is not a layer or a sequence of layers.

    Example:
        >>> power_iterate(discriminator)
        4
    """
    layers = spectral_norm_layers(model)
    for layer in layers:
        layer.power_iteration()
    return len(layers)
