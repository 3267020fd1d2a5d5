"""The synthetic oracle of Yu et al. (2017): an LSTM that makes the "real" data and scores samples.

NumPy only (no TensorFlow, no Keras). The oracle (Yu et al. 2017, section 4)
is a fixed random LSTM language model over 5,000 tokens (embedding 32, hidden
32), run for 20 steps from the start token 0 (fed as the first input, not part
of the sequence) and a zero state. One step, with ``x = E[token]``::

    i = sigmoid(x Wi + h Ui + bi)          f = sigmoid(x Wf + h Uf + bf)
    o = sigmoid(x Wo_gate + h Uo_gate + bo_gate)
    c = f * c + i * tanh(x Wc + h Uc + bc)          h = o * tanh(c)
    p(next token) = softmax(h W_out + b_out)

The two scores of the synthetic benchmark (both in nats per token, lower is
better; report them together):

- **NLL-oracle** (quality): draw sequences from the trained generator and
  average the *oracle's* negative log-likelihood per token,
  ``-1/(N T) sum_s sum_t log p_oracle(s_t | s_<t)``; :func:`nll_oracle`. A
  generator that collapses onto the oracle's likeliest sequences scores well
  here, so it is never reported alone.
- **NLL-test** (coverage, "diversity"): the *generator's* own negative
  log-likelihood per token on fresh oracle samples (10,000 drawn with
  :meth:`OracleLSTM.sample` under a seed not used for the training data),
  ``-1/(N T) sum_s sum_t log p_G(s_t | s_<t)``. It is computed by the model
  (``model.nll(tokens)``), not here; a generator that dropped modes of the
  oracle pays for them.

The oracle's own entropy rate, 5.752 nats per token (its NLL on its own
samples), is the floor of NLL-oracle in expectation for a generator that keeps
the oracle's diversity. The paper reports 8.736 NLL-oracle for its policy-gradient GAN
and about 9.04 for its maximum-likelihood baseline (sequence length 20).

Example:

>>> from kerasgan.metrics import oracle
>>> lstm = oracle.OracleLSTM.load("../shared/data/seqgan-oracle/oracle_lstm.npz",
...                                sha256=oracle.SEQGAN_ORACLE_SHA256)
>>> real = lstm.sample(10_000, seed=0)         # the "real" training data, int32 (10000, 20)
>>> test = lstm.sample(10_000, seed=1)         # fresh samples for NLL-test
>>> floor = lstm.nll(lstm.sample(2_000, seed=2))   # about 5.75, the entropy rate
>>> score = oracle.nll_oracle(generated_ids, lstm)  # NLL-oracle of a generator's samples
>>> # NLL-test is the generator's: model.nll(test)

References:
    Yu, Zhang, Wang, Yu, "Sequence Generative Adversarial Nets with
    Policy Gradient", AAAI 2017. Zhu et al., "Texygen: A Benchmarking Platform
    for Text Generation Models", SIGIR 2018 (NLL-test).
"""

import hashlib
import os
import zipfile

import numpy as np

from kerasgan.metrics.stats import MetricInputError
from kerasgan.utils import check_int

#: sha256 of ``../shared/data/seqgan-oracle/oracle_lstm.npz`` (the paper's oracle)
SEQGAN_ORACLE_SHA256 = "2245274e4e4369cf528258f2d436616eb8d06ff5c6c4f14b788fa08fa6dfb9bc"

_GATES = ("i", "f", "o_gate", "c")  # array-name suffixes, in the README's order
#: every array of the oracle file, and its shape in terms of (V)ocabulary,
#: (E)mbedding and (H)idden sizes
KEYS = {
    "embedding": ("V", "E"),
    **{f"{w}{g}": (("E", "H") if w == "W" else ("H", "H") if w == "U" else ("H",))
       for g in _GATES for w in ("W", "U", "b")},
    "W_out": ("H", "V"),
    "b_out": ("V",),
}


def _sigmoid(x):
    return 0.5 * (np.tanh(0.5 * x) + 1.0)  # stable for any x, float32 in and out


_BLOCK = 100  # tokens per block of the two-level inverse CDF


def _inverse_cdf(weights, u):
    """Per row, the index ``k`` with ``W[k-1] <= u * W[-1] < W[k]``, ``W`` the
    cumulative sum of the row of non-negative ``weights`` (a draw from the
    normalised row; a zero-weight index is never drawn). Two levels: the block
    of ``_BLOCK`` indices, then the index within it; sums in float64."""
    rows, size = weights.shape
    count = -(-size // _BLOCK)
    if count * _BLOCK != size:
        weights = np.pad(weights, ((0, 0), (0, count * _BLOCK - size)))
    blocks = weights.reshape(rows, count, _BLOCK)
    sums = blocks.sum(axis=2, dtype=np.float64)
    block_cdf = np.cumsum(sums, axis=1)
    target = u * block_cdf[:, -1]
    index = np.arange(rows)
    # rounding can put the target at or past the end: keep to the last non-empty block
    # (and, below, to the last non-zero weight of the block)
    last_block = count - 1 - np.argmax(sums[:, ::-1] > 0, axis=1)
    block = np.minimum((block_cdf <= target[:, None]).sum(axis=1), last_block)
    below = np.where(block > 0, block_cdf[index, np.maximum(block - 1, 0)], 0.0)
    chosen = blocks[index, block]
    inner_cdf = np.cumsum(chosen, axis=1, dtype=np.float64)
    last = _BLOCK - 1 - np.argmax(chosen[:, ::-1] > 0, axis=1)
    inner = np.minimum((inner_cdf <= (target - below)[:, None]).sum(axis=1), last)
    return block * _BLOCK + inner


class OracleLSTM:
    """The synthetic oracle LSTM (NumPy, float32): samples sequences and scores them.

    Args:
        arrays: a mapping with the arrays of :data:`KEYS` (``embedding``,
            ``Wi``, ``Ui``, ``bi``, ..., ``W_out``, ``b_out``), shapes
            consistent with one vocabulary, embedding and hidden size.
        sequence_length: the length :meth:`sample` draws (20 in the benchmark).
        start_token: the first input token (0 in the benchmark).

    Raises:
        ValueError: a missing array, a wrong shape, non-finite values.

    Example:
        >>> lstm = OracleLSTM.load(path)
        >>> ids = lstm.sample(64, seed=0)           # int32 (64, 20)
        >>> per_sequence = lstm.nll_per_sequence(ids)   # float64 (64,)
        >>> mean = lstm.nll(ids)                    # float, about 5.75 nats per token
    """

    def __init__(self, arrays, sequence_length=20, start_token=0):
        missing = [k for k in KEYS if k not in arrays]
        if missing:
            raise ValueError(f"oracle arrays lack {', '.join(missing)} "
                             f"(expected keys: {', '.join(KEYS)})")
        weights = {k: np.asarray(arrays[k]) for k in KEYS}
        if weights["embedding"].ndim != 2 or weights["Wi"].ndim != 2:
            raise ValueError(f"oracle 'embedding' and 'Wi' must be 2-D, got shapes "
                             f"{weights['embedding'].shape} and {weights['Wi'].shape}")
        sizes = {"V": weights["embedding"].shape[0], "E": weights["embedding"].shape[1],
                 "H": weights["Wi"].shape[1]}
        for key, dims in KEYS.items():
            expected = tuple(sizes[d] for d in dims)
            if weights[key].shape != expected:
                raise ValueError(
                    f"oracle array {key!r} has shape {weights[key].shape}, expected {expected} "
                    f"(vocabulary {sizes['V']}, embedding {sizes['E']}, hidden {sizes['H']})")
            if not np.issubdtype(weights[key].dtype, np.floating):
                raise ValueError(f"oracle array {key!r} must be floating point, "
                                 f"got {weights[key].dtype}")
            if not np.all(np.isfinite(weights[key])):
                raise ValueError(f"oracle array {key!r} contains NaN or Inf")
        self.vocabulary_size = sizes["V"]
        self.embedding_dim, self.hidden_dim = sizes["E"], sizes["H"]
        self.sequence_length = check_int(sequence_length, "sequence_length")
        self.start_token = check_int(start_token, "start_token", 0, self.vocabulary_size - 1)
        f32 = {k: v.astype(np.float32) for k, v in weights.items()}
        self.embedding = f32["embedding"]
        # the four gates side by side, in the README's order (i, f, o, c)
        self._kernel = np.concatenate([f32[f"W{g}"] for g in _GATES], axis=1)
        self._recurrent = np.concatenate([f32[f"U{g}"] for g in _GATES], axis=1)
        self._bias = np.concatenate([f32[f"b{g}"] for g in _GATES])
        self.output_kernel, self.output_bias = f32["W_out"], f32["b_out"]
        # the embedding times the input kernel, once: a step's input term is a row gather
        self._input_table = self.embedding @ self._kernel + self._bias

    @classmethod
    def load(cls, path, sha256=None, **kwargs):
        """Loads the oracle from an ``.npz`` of plain arrays (no pickle).

        Args:
            path: the ``.npz`` file (``../shared/data/seqgan-oracle/oracle_lstm.npz``).
            sha256: if given, the file's sha256 must equal it (e.g.
                :data:`SEQGAN_ORACLE_SHA256`).
            **kwargs: ``sequence_length``, ``start_token`` (see the class).

        Raises:
            FileNotFoundError: no file at ``path``.
            ValueError: not a readable ``.npz``, a sha256 mismatch, a missing
                array or a wrong shape (one line, naming the file).
        """
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no oracle file at {path}")
        if sha256 is not None:
            with open(path, "rb") as f:
                digest = hashlib.file_digest(f, "sha256").hexdigest()
            if digest != str(sha256).lower():
                raise ValueError(f"{path}: sha256 {digest} does not match the expected {sha256}")
        try:
            data = np.load(path, allow_pickle=False)
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ValueError("it holds a single array, not an .npz archive of named arrays")
            with data:
                arrays = {k: data[k] for k in data.files}
            return cls(arrays, **kwargs)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
            message = " ".join(str(e).split()) or type(e).__name__
            raise ValueError(f"{path} is not a valid oracle .npz: {message}") from None

    # ------------------------------------------------------------------ the LSTM
    def initial_state(self, batch_size):
        """Zero ``(h, c)``, float32 ``(batch_size, hidden)`` each."""
        zeros = np.zeros((batch_size, self.hidden_dim), np.float32)
        return zeros, zeros.copy()

    def step(self, tokens, state):
        """One step: input ``tokens`` (int, ``(batch,)``) and state ``(h, c)``.

        Returns:
            ``(logits, (h, c))``: float32 ``(batch, vocabulary)`` logits of the
            next token, and the new state.
        """
        h, c = state
        z = self._input_table[tokens] + h @ self._recurrent
        i, f, o, g = np.split(z, 4, axis=1)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        return h @ self.output_kernel + self.output_bias, (h, c)

    def keras_lstm_weights(self):
        """``[kernel, recurrent_kernel, bias]`` for a ``keras.layers.LSTM`` /
        ``LSTMCell`` of ``hidden`` units (Keras' gate order i, f, c, o), so a
        Keras model can run the oracle (its embedding is :attr:`embedding`,
        its output layer :attr:`output_kernel`, :attr:`output_bias`)."""
        h = self.hidden_dim
        order = [0, 1, 3, 2]  # ours i, f, o, c -> Keras' i, f, c, o
        kernel = np.concatenate([self._kernel[:, k * h:(k + 1) * h] for k in order], axis=1)
        recurrent = np.concatenate([self._recurrent[:, k * h:(k + 1) * h] for k in order], axis=1)
        bias = np.concatenate([self._bias[k * h:(k + 1) * h] for k in order])
        return [kernel, recurrent, bias]

    # ------------------------------------------------------------------ sampling
    def sample(self, n, seed, batch_size=1000):
        """Draws ``n`` sequences of ``sequence_length`` tokens from the oracle.

        Each token is drawn by inverting the cumulative distribution (float64)
        at a uniform number, in two levels (the block of 100 tokens, then the
        token in it: 3x faster than one cumulative sum over 5,000). All the
        uniforms come from ``numpy.random.default_rng(seed)`` up front, row by
        row, so the result depends on ``(n, seed)`` only, not on
        ``batch_size``, and the first ``m`` rows of ``sample(n, seed)`` are
        ``sample(m, seed)``. (Not the same stream as the paper's reference
        code's ``tf.multinomial``: the same distribution, other draws.)

        Args:
            n: how many sequences.
            seed: an integer seed.
            batch_size: sequences per batch (memory: about 60 kB a sequence).

        Returns:
            int32 ``(n, sequence_length)`` token ids.
        """
        n = check_int(n, "n", minimum=0)
        seed = check_int(seed, "seed", minimum=0)
        batch_size = check_int(batch_size, "batch_size")
        uniforms = np.random.default_rng(seed).random((n, self.sequence_length))
        out = np.empty((n, self.sequence_length), np.int32)
        for start in range(0, n, batch_size):
            u = uniforms[start:start + batch_size]
            tokens = np.full(len(u), self.start_token, np.int64)
            state = self.initial_state(len(u))
            for t in range(self.sequence_length):
                logits, state = self.step(tokens, state)
                logits -= logits.max(axis=1, keepdims=True)
                tokens = _inverse_cdf(np.exp(logits), u[:, t])
                out[start:start + len(u), t] = tokens
        return out

    # ------------------------------------------------------------------ scoring
    def _check_sequences(self, sequences):
        ids = np.asarray(sequences)
        if ids.ndim != 2 or ids.shape[1] < 1:
            raise MetricInputError(
                f"sequences must be a 2-D (sequences, length) array of token ids, got shape "
                f"{ids.shape}")
        if ids.size and not np.issubdtype(ids.dtype, np.integer):
            raise MetricInputError(f"sequences must be integer token ids, got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocabulary_size):
            raise MetricInputError(
                f"token ids must be in [0, {self.vocabulary_size - 1}], got ids from "
                f"{ids.min()} to {ids.max()}")
        return ids.astype(np.int64)

    def nll_per_sequence(self, sequences, batch_size=1000):
        """The oracle's negative log-likelihood of each sequence, per token.

        ``-1/T sum_t log p_oracle(s_t | start, s_1..s_{t-1})`` with a stable
        log-softmax (float32 logits, float64 sums).

        Args:
            sequences: int ``(N, T)`` token ids (any ``T >= 1``; 20 in the benchmark).
            batch_size: sequences per batch.

        Returns:
            float64 ``(N,)``, nats per token.

        Raises:
            MetricInputError: not a 2-D integer array, ids outside the vocabulary.
        """
        ids = self._check_sequences(sequences)
        batch_size = check_int(batch_size, "batch_size")
        n, length = ids.shape
        total = np.zeros(n, np.float64)
        for start in range(0, n, batch_size):
            batch = ids[start:start + batch_size]
            rows = np.arange(len(batch))
            tokens = np.full(len(batch), self.start_token, np.int64)
            state = self.initial_state(len(batch))
            for t in range(length):
                logits, state = self.step(tokens, state)
                peak = logits.max(axis=1)
                log_z = peak + np.log(np.exp(logits - peak[:, None]).sum(axis=1, dtype=np.float64))
                tokens = batch[:, t]
                total[start:start + len(batch)] += log_z - logits[rows, tokens]
        return total / length

    def nll(self, sequences, batch_size=1000):
        """The oracle's mean negative log-likelihood per token (the NLL-oracle of
        ``sequences``); a float, nats. See :meth:`nll_per_sequence`.

        Raises:
            MetricInputError: no sequences, or as :meth:`nll_per_sequence`.
        """
        per_sequence = self.nll_per_sequence(sequences, batch_size)
        if not len(per_sequence):
            raise MetricInputError("NLL needs at least one sequence, got none")
        return float(per_sequence.mean())


def nll_oracle(generated_ids, oracle):
    """NLL-oracle: the oracle's mean negative log-likelihood per token of a
    generator's samples (lower is better; the paper draws 10,000).

    Args:
        generated_ids: int ``(N, T)`` token ids sampled from the generator.
        oracle: an :class:`OracleLSTM`, or the path of its ``.npz``.

    Returns:
        float, nats per token.

    Raises:
        MetricInputError: bad ids (see :meth:`OracleLSTM.nll_per_sequence`).

    Example:
        >>> score = nll_oracle(generated_ids, OracleLSTM.load(path))
    """
    if not isinstance(oracle, OracleLSTM):
        oracle = OracleLSTM.load(oracle)
    return oracle.nll(generated_ids)
