"""Layers of the token-sequence families: a highway layer and a relational memory core."""

import keras
from keras import layers, ops

__all__ = ["Highway", "RelationalMemory"]


@keras.saving.register_keras_serializable(package="kerasgan")
class Highway(layers.Layer):
    """A highway layer (Srivastava et al. 2015): ``t * relu(W x + b) + (1 - t) * x``
    with the transform gate ``t = sigmoid(W_t x + b_t)``; the policy-gradient text GAN's
    discriminator puts one after its max-pooled convolution features.

    Args:
        gate_bias: initial bias of the transform gate (0, as Yu et al. 2017).
    """

    def __init__(self, gate_bias=0.0, **kwargs):
        super().__init__(**kwargs)
        self.gate_bias = float(gate_bias)

    def build(self, input_shape):
        size = input_shape[-1]
        self.transform = layers.Dense(size, activation="relu", name="transform")
        self.gate = layers.Dense(size, activation="sigmoid", name="gate",
                                 bias_initializer=keras.initializers.Constant(self.gate_bias))
        self.transform.build(input_shape)
        self.gate.build(input_shape)

    def call(self, x):
        t = self.gate(x)
        return t * self.transform(x) + (1.0 - t) * x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "gate_bias": self.gate_bias}


@keras.saving.register_keras_serializable(package="kerasgan")
class RelationalMemory(layers.Layer):
    """One step of a relational memory core (Santoro et al. 2018), the relational text GAN's
    generator cell (Nie et al. 2019).

    The memory, ``mem_slots`` rows of ``num_heads * head_size`` units, attends
    over itself and the (projected) input with multi-head attention, passes an
    MLP with residual connections and layer normalisation, and is gated into
    the previous memory with LSTM-style input and forget gates. The state is
    the memory minus its initial value (the identity, as Santoro et al.
    start it), flattened, so that a zero state is the initial memory:
    ``call([x, memory]) -> [output, memory]`` where ``output`` is the new
    state too.

    Args:
        mem_slots: memory rows.
        head_size: units per attention head.
        num_heads: attention heads.
        mlp_layers: layers of the memory's MLP.
        forget_bias: added to the forget gate's pre-activation.
    """

    def __init__(self, mem_slots=1, head_size=64, num_heads=2, mlp_layers=2, forget_bias=1.0,
                 **kwargs):
        super().__init__(**kwargs)
        self.mem_slots, self.head_size, self.num_heads = int(mem_slots), int(head_size), int(num_heads)
        self.mlp_layers = int(mlp_layers)
        self.forget_bias = float(forget_bias)
        self.units = self.head_size * self.num_heads

    @property
    def state_size(self):
        return self.mem_slots * self.units

    def build(self, input_shape):
        x_shape = input_shape[0]
        d = self.units
        self.project = layers.Dense(d, name="project")
        self.project.build(x_shape)
        self.attention = layers.MultiHeadAttention(self.num_heads, self.head_size, name="attention")
        rows = (None, self.mem_slots + 1, d)
        self.attention.build(rows, rows, rows)
        self.norm1 = layers.LayerNormalization(name="norm1")
        self.norm1.build(rows)
        self.mlp = [layers.Dense(d, activation="relu", name=f"mlp{i}") for i in range(self.mlp_layers)]
        for dense in self.mlp:
            dense.build(rows)
        self.norm2 = layers.LayerNormalization(name="norm2")
        self.norm2.build(rows)
        self.input_gate = layers.Dense(2 * d, name="input_gate")
        self.input_gate.build((None, d))
        self.memory_gate = layers.Dense(2 * d, use_bias=False, name="memory_gate")
        self.memory_gate.build((None, self.mem_slots, d))

    def call(self, inputs):
        x, memory = inputs
        d = self.units
        # the state is stored relative to the initial memory, the identity
        # (Santoro et al.): a zero state input is the initial memory
        initial = ops.expand_dims(ops.eye(self.mem_slots, d, dtype=memory.dtype), 0)
        memory = ops.reshape(memory, (-1, self.mem_slots, d)) + initial
        x = self.project(x)
        rows = ops.concatenate([memory, ops.expand_dims(x, 1)], axis=1)
        rows = self.norm1(rows + self.attention(rows, rows, rows))
        h = rows
        for dense in self.mlp:
            h = dense(h)
        rows = self.norm2(rows + h)
        candidate = rows[:, :-1]
        gates = ops.expand_dims(self.input_gate(ops.tanh(x)), 1) + self.memory_gate(ops.tanh(memory))
        i, f = gates[..., :d], gates[..., d:]
        new = ops.sigmoid(i) * ops.tanh(candidate) + ops.sigmoid(f + self.forget_bias) * memory
        new = ops.reshape(new - initial, (-1, self.mem_slots * d))
        return new, new

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], self.state_size), (input_shape[0][0], self.state_size)

    def get_config(self):
        return {**super().get_config(), "mem_slots": self.mem_slots, "head_size": self.head_size,
                "num_heads": self.num_heads, "mlp_layers": self.mlp_layers,
                "forget_bias": self.forget_bias}
