"""`SequenceGAN`: the token-sequence kind (text and other discrete sequences).

The generator is a *step network*, a ``keras.Model`` with inputs ``[token,
*state]`` and outputs ``[logits, *state]``: one token in (int32 ``(B,)``), the
next token's logits (``(B, V)``) and the new recurrent state out. The same
network is unrolled for training (:mod:`kerasgan.core.tf_sequence`), sampled
token by token by :meth:`SequenceGAN.generate`, and exported as it is: what
ONNX Runtime runs in the deployment kit.

Training runs in *phases*, a function of the step (the model's
``steps_done`` counter, saved with it): maximum-likelihood pre-training of
the generator, then whatever the family adds (discriminator pre-training,
adversarial training). Each phase has its own compiled step; the phase of a
step is read from the counter before it runs, so a resumed run, or one on
several workers, takes the same phase at the same step as an uninterrupted
one. (With ``steps_per_execution=k`` the phase is read every ``k`` steps:
keep it 1 across a phase boundary.)

Random draws (token picks, roll-outs, Gumbel noise) are made for the global
batch from the model's ``SeedGenerator`` and sliced per replica, so a mirrored
run equals one device.
"""

import collections

import numpy as np
import keras

from kerasgan.core import tf_sequence, tf_step
from kerasgan.core.adversarial import AdversarialModel
from kerasgan.sampling import check_temperature, pick_tokens, sequence_uniforms
from kerasgan.utils import check_int
from kerasgan.vocabulary import Vocabulary, VocabularyError

__all__ = ["SequenceGAN", "GeneratedText", "TOKEN_RANGE_CHECK"]

#: what ``generate`` returns: int32 token ids ``(n, L)`` and the decoded strings
GeneratedText = collections.namedtuple("GeneratedText", ["ids", "texts"])

TOKEN_RANGE_CHECK = "token ids must be integers in [0, vocab_size): encode the data with the model's vocabulary"


class SequenceGAN(AdversarialModel):
    """The base of the token-sequence families (see the module docstring).

    Args:
        generator: the step network (``[token, *state] -> [logits, *state]``).
        discriminator: the judging network on ``(B, L)`` token ids or ``(B, L,
            V)`` (soft) one-hot sequences; None for a family trained by
            maximum likelihood only.
        vocab_size: number of tokens V.
        seq_len: tokens per sequence L.
        vocabulary: the :class:`kerasgan.vocabulary.Vocabulary` (or its JSON
            dict); None: a numeric vocabulary of ``vocab_size`` ids (start
            input 0, as the synthetic oracle of Yu et al. 2017).
        pretrain_steps: steps of maximum-likelihood pre-training of the
            generator before the family's other phases.
        ema_decay, seed, **kwargs: as :class:`kerasgan.core.AdversarialModel`.
    """

    default_loss = "non_saturating"
    #: the CPU plan's XLA choice is for convolutional image networks; the
    #: recurrent roll-outs keep Keras' default.
    cpu_xla_applies = False

    def __init__(self, generator, discriminator, vocab_size, seq_len, vocabulary=None,
                 pretrain_steps=0, ema_decay=None, seed=None, **kwargs):
        self.vocab_size = check_int(vocab_size, "vocab_size", 2)
        self.seq_len = check_int(seq_len, "seq_len", 2)
        self.pretrain_steps = check_int(pretrain_steps, "pretrain_steps", 0)
        if vocabulary is None:
            vocab = Vocabulary.numeric_ids(self.vocab_size)
        else:
            vocab = Vocabulary.from_json(vocabulary)
        if len(vocab) != self.vocab_size:
            raise VocabularyError(
                f"the vocabulary has {len(vocab)} tokens where vocab_size is {self.vocab_size}: "
                "build the model with the vocabulary of its data")
        super().__init__(generator, discriminator, ema_decay=ema_decay, seed=seed, **kwargs)
        for network in self.networks():
            if network.dtype_policy.name != "float32":
                raise ValueError(
                    f"{self.family}: token-sequence families train in float32 only, got the "
                    f"{network.dtype_policy.name} policy: build the model outside "
                    "kerasgan.precision.policy_scope (its networks are small; mixed precision "
                    "would not speed them up)")
        self.vocabulary = vocab
        self.start_id = vocab.start_id
        self.steps_done = keras.Variable(0, dtype="int64", trainable=False, name="steps_done",
                                         aggregation="only_first_replica")
        self._phase_functions = None

    # ------------------------------------------------------------ networks
    def networks(self):
        return tuple(n for n in (self.generator, self.discriminator) if n is not None)

    def discriminator_trainable_variables(self):
        return [] if self.discriminator is None else self.discriminator.trainable_variables

    @property
    def state_shapes(self):
        """Shapes (without the batch) of the step network's recurrent states."""
        return [tuple(x.shape[1:]) for x in self.generator.inputs[1:]]

    def _base_config(self):
        config = super()._base_config()
        config.update(vocab_size=self.vocab_size, seq_len=self.seq_len,
                      vocabulary=self.vocabulary.to_json(), pretrain_steps=self.pretrain_steps)
        return config

    def export_metadata(self):
        return {"kind": "token_sequence", "vocabulary": self.vocabulary.to_json(),
                "vocab_size": self.vocab_size, "seq_len": self.seq_len,
                "start_id": self.start_id, "end_id": self.vocabulary.end_id,
                "pad_id": self.vocabulary.pad_id,
                "state_shapes": [list(s) for s in self.state_shapes]}

    # -------------------------------------------------------------- phases
    def phases(self):
        """``[(name, steps), ...]``: the training phases in order, each run
        for ``steps`` steps (None: to the end). Families extend it."""
        return [("likelihood", None)]

    def phase_at(self, step):
        """The phase of step ``step`` (0-based)."""
        for name, steps in self.phases():
            if steps is None or step < steps:
                return name
            step -= steps
        return self.phases()[-1][0]

    def training_steps(self):
        """Steps taken over all phases (``steps_done``)."""
        return int(self.steps_done.numpy())

    @property
    def phase(self):
        """The phase the next training step runs."""
        return self.phase_at(int(self.steps_done.numpy()))

    def phase_step(self, phase, data):
        """One training step of ``phase`` on ``data``; returns the logs."""
        raise NotImplementedError

    def train_step(self, data):
        return self.phase_step(self.phase, data)

    def make_train_function(self, force=False):
        """One compiled step per phase; the step that runs is the phase of
        ``steps_done``, read before each call (see the module docstring)."""
        if self.train_function is not None and not force:
            return self.train_function
        functions = {}

        def compiled(phase):
            if phase not in functions:
                functions[phase] = self._make_function(
                    lambda data, phase=phase: self.phase_step(phase, data))
            return functions[phase]

        def dispatch(iterator):
            return compiled(self.phase)(iterator)

        self._phase_functions = functions
        self.train_function = dispatch
        return dispatch

    def compile(self, *args, **kwargs):
        super().compile(*args, **kwargs)
        self.train_function = None  # a fresh dispatcher for the new optimizers

    # ------------------------------------------------------------ the data
    def _tokens(self, data):
        """The ``(B, L)`` int32 token batch of ``data``, checked in the graph."""
        if isinstance(data, (tuple, list)):
            data = data[0]
        tokens = keras.ops.cast(data, "int32")
        shape = tf_step.static_shape(tokens)
        if shape is not None and (len(shape) != 2 or (shape[1] is not None
                                                      and shape[1] != self.seq_len)):
            raise ValueError(f"{self.family}: a data batch must be (batch, {self.seq_len}) "
                             f"token ids, got shape {shape}: encode the data with seq_len="
                             f"{self.seq_len}")
        length = (f"a data batch must be (batch, {self.seq_len}) token ids: encode the data "
                  f"with seq_len={self.seq_len}")
        checks = [tf_step.assert_equal(tf_step.shape_of(tokens, 1), self.seq_len, length),
                  tf_step.assert_non_negative(tokens, TOKEN_RANGE_CHECK),
                  tf_step.assert_less(tokens, self.vocab_size, TOKEN_RANGE_CHECK)]
        # the length the loops unroll over is seq_len, known statically
        return keras.ops.reshape(tf_step.guarded(checks, tokens), (-1, self.seq_len))

    def uniforms(self, shape, offset, local_batch, global_batch, minval=0.0, maxval=1.0):
        """Uniforms ``(local_batch, *shape)``: this replica's rows of one draw
        for the global batch from the model's seed generator."""
        draw = keras.random.uniform((global_batch, *shape), minval=minval, maxval=maxval,
                                    seed=self.seed_generator)
        return tf_step.local_slice(draw, offset, local_batch)

    # -------------------------------------------------------------- losses
    def token_nll(self, tokens, training=False, network=None):
        """Per-example mean negative log-likelihood per token of ``tokens``
        under the generator (``(B,)`` float32)."""
        network = self.generator if network is None else network
        logits = tf_sequence.teacher_forced(network, tokens, self.start_id, training=training)
        ce = keras.ops.sparse_categorical_crossentropy(tokens, logits, from_logits=True)
        return keras.ops.mean(ce, axis=-1)

    def mle_step(self, data):
        """One maximum-likelihood update of the generator (teacher forcing)."""
        tokens = self._tokens(data)
        local_batch = tf_step.batch_size(tokens)
        _, global_batch = tf_step.batch_layout(local_batch)

        def loss(_):
            nll = self.token_nll(tokens, training=True)
            return nll, nll

        nll = self.minimize("g", loss, global_batch, ema=True)
        self.g_loss_tracker.update_state(nll)
        self.steps_done.assign_add(1)
        return self._step_logs()

    def call(self, inputs, training=False):
        """Teacher-forced logits ``(B, L, V)`` of token ids ``(B, L)``."""
        return tf_sequence.teacher_forced(self.generator, keras.ops.cast(inputs, "int32"),
                                          self.start_id, training=training)

    # ------------------------------------------------------------ sampling
    def generator_inputs(self):
        """The step network's inputs, for export metadata: the token and the
        recurrent states (zeros at the start)."""
        specs = [{"name": self.generator.inputs[0].name.split(":")[0], "shape": [],
                  "dtype": "int32", "sampler": "token"}]
        for x in self.generator.inputs[1:]:
            specs.append({"name": x.name.split(":")[0], "shape": list(x.shape[1:]),
                          "dtype": "float32", "sampler": "state"})
        return specs

    def generate(self, n, seed=None, temperature=1.0, batch_size=256, **ignored):
        """Samples ``n`` sequences, token by token.

        The tokens are picked by the seed rule of
        :func:`kerasgan.sampling.sequence_uniforms` and
        :func:`kerasgan.sampling.pick_tokens` (what the deployment kit does
        with the exported step network): sequence ``i`` of a seed is the same
        whatever ``n`` and ``batch_size``.

        Args:
            n: number of sequences.
            seed: integer seed (None: fresh randomness).
            temperature: > 0; 1.0 samples the model as trained, lower is more
                conservative (less diverse).
            batch_size: sequences per forward pass.

        Returns:
            :class:`GeneratedText`: ``ids`` int32 ``(n, seq_len)`` and
            ``texts`` (each decoded up to its end token).
        """
        n = check_int(n, "n", expected="a positive integer number of sequences")
        batch_size = check_int(batch_size, "batch_size")
        temperature = check_temperature(temperature)
        u = sequence_uniforms(n, self.seq_len, seed)
        network = self.sampling_generator
        fn = tf_step.inference_function(network)
        out = np.zeros((n, self.seq_len), np.int32)
        for start in range(0, n, batch_size):
            rows = min(batch_size, n - start)
            token = np.full((rows,), self.start_id, np.int32)
            states = [np.zeros((rows, *s), np.float32) for s in self.state_shapes]
            for t in range(self.seq_len):
                result = fn([tf_step.to_tensor(token), *map(tf_step.to_tensor, states)])
                logits, states = np.asarray(result[0]), [np.asarray(s) for s in result[1:]]
                token = pick_tokens(logits, u[start:start + rows, t], temperature)
                out[start:start + rows, t] = token
        return GeneratedText(out, [self.vocabulary.decode(row) for row in out])

    def nll(self, tokens, batch_size=256, temperature=1.0):
        """The generator's mean negative log-likelihood per token of
        ``tokens`` (``(N, seq_len)`` ids): NLL-test when they are held-out
        data (nats). ``temperature``: of the distribution sampling at that
        temperature draws from (``softmax(logits / temperature)``)."""
        temperature = check_temperature(temperature)
        tokens = np.asarray(tokens)
        if tokens.ndim != 2 or tokens.shape[1] != self.seq_len:
            raise ValueError(f"tokens must be (N, {self.seq_len}) ids, got shape {tokens.shape}")
        if tokens.size and (tokens.min() < 0 or tokens.max() >= self.vocab_size):
            raise ValueError(TOKEN_RANGE_CHECK)
        fn = tf_sequence.nll_function(self.sampling_generator, self.start_id)
        total = 0.0
        for start in range(0, len(tokens), batch_size):
            total += float(np.sum(np.asarray(fn(tf_step.to_tensor(
                tokens[start:start + batch_size].astype(np.int32)),
                tf_step.to_tensor(np.float32(temperature))))))
        return total / max(1, len(tokens))
