"""Networks of the token-sequence families: step generators and CNN discriminators."""

import keras
from keras import layers, ops

from kerasgan.layers import GlobalBatchDropout, Highway, RelationalMemory

#: SeqGAN's discriminator (Yu et al. 2017, appendix; the reference code's
#: synthetic-data settings): filter widths and the number of filters of each
SEQGAN_FILTER_SIZES = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20)
SEQGAN_NUM_FILTERS = (100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160)


def _normal(stddev):
    return keras.initializers.RandomNormal(0.0, stddev)


def lstm_generator(vocab_size, embedding_dim, hidden_dim, name="generator", init_stddev=0.1):
    """The LSTM step network ``[token, h, c] -> [logits, h, c]`` (SeqGAN's and
    the MLE baseline's generator; weights from N(0, 0.1) as its reference code)."""
    token = keras.Input((), dtype="int32", name="token")
    h = keras.Input((hidden_dim,), name="h")
    c = keras.Input((hidden_dim,), name="c")
    x = layers.Embedding(vocab_size, embedding_dim, embeddings_initializer=_normal(init_stddev),
                         name="embedding")(token)
    cell = layers.LSTMCell(hidden_dim, kernel_initializer=_normal(init_stddev),
                           recurrent_initializer=_normal(init_stddev), name="lstm")
    out, (h2, c2) = cell(x, [h, c])
    logits = layers.Dense(vocab_size, kernel_initializer=_normal(init_stddev), name="logits")(out)
    return keras.Model([token, h, c], [logits, h2, c2], name=name)


def relational_generator(vocab_size, embedding_dim, mem_slots, head_size, num_heads,
                         name="generator"):
    """RelGAN's step network ``[token, memory] -> [logits, memory]``: a
    relational memory core over token embeddings."""
    core = RelationalMemory(mem_slots, head_size, num_heads, name="relational_memory")
    token = keras.Input((), dtype="int32", name="token")
    memory = keras.Input((core.state_size,), name="memory")
    x = layers.Embedding(vocab_size, embedding_dim, embeddings_initializer=_normal(0.1),
                         name="embedding")(token)
    out, new = core([x, memory])
    logits = layers.Dense(vocab_size, name="logits")(out)
    return keras.Model([token, memory], [logits, new], name=name)


def _convolutions(x, seq_len, filter_sizes, num_filters, prefix):
    pooled = []
    for k, n in zip(filter_sizes, num_filters):
        if k > seq_len:
            continue
        h = layers.Conv1D(n, k, activation="relu", kernel_initializer=_normal(0.1),
                          name=f"{prefix}conv{k}")(x)
        pooled.append(layers.GlobalMaxPooling1D(name=f"{prefix}pool{k}")(h))
    return pooled[0] if len(pooled) == 1 else layers.Concatenate(name=f"{prefix}features")(pooled)


def token_cnn_discriminator(vocab_size, seq_len, embedding_dim=64,
                            filter_sizes=SEQGAN_FILTER_SIZES, num_filters=SEQGAN_NUM_FILTERS,
                            dropout=0.25, seed=None, name="discriminator"):
    """SeqGAN's discriminator: token embedding, convolutions of several widths
    max-pooled over time, a highway layer, dropout, one logit (real vs
    generated). Input: ``(B, L)`` int32 token ids."""
    if len(filter_sizes) != len(num_filters):
        raise ValueError(f"filter_sizes and num_filters differ in length: {len(filter_sizes)} "
                         f"and {len(num_filters)}")
    tokens = keras.Input((seq_len,), dtype="int32", name="tokens")
    x = layers.Embedding(vocab_size, embedding_dim, embeddings_initializer=_normal(1.0),
                         name="embedding")(tokens)
    h = _convolutions(x, seq_len, filter_sizes, num_filters, "")
    h = Highway(name="highway")(h)
    h = GlobalBatchDropout(dropout, seed=seed, name="dropout")(h)
    # zeros, not the reference code's N(0, 0.1): with 1,720 features that gave
    # initial logits of about ±5, a discriminator far worse than chance that
    # thousands of pre-training steps at 1e-4 have to undo; zeros start at chance
    logit = layers.Dense(1, kernel_initializer="zeros", name="logit")(h)
    return keras.Model(tokens, ops.squeeze(logit, -1), name=name)


def one_hot_cnn_discriminator(vocab_size, seq_len, embedding_dim=16, num_rep=16,
                              filter_sizes=(2, 3, 4, 5), num_filters=(100, 100, 100, 100),
                              dropout=0.25, seed=None, name="discriminator"):
    """RelGAN's discriminator: ``(B, L, V)`` one-hot (or soft one-hot)
    sequences embedded ``num_rep`` times (multiple embedded representations,
    each judged by the same convolutions); one logit per representation,
    ``(B, num_rep)``."""
    onehot = keras.Input((seq_len, vocab_size), name="one_hot")
    x = layers.Dense(embedding_dim * num_rep, use_bias=False, kernel_initializer=_normal(0.1),
                     name="embeddings")(onehot)
    x = ops.reshape(x, (-1, seq_len, num_rep, embedding_dim))
    x = ops.reshape(ops.transpose(x, (0, 2, 1, 3)), (-1, seq_len, embedding_dim))
    h = _convolutions(x, seq_len, filter_sizes, num_filters, "")
    h = Highway(name="highway")(h)
    h = GlobalBatchDropout(dropout, seed=seed, name="dropout")(h)
    # no biases: the relativistic loss sees only D(real) - D(fake), where they cancel
    h = layers.Dense(100, use_bias=False, name="hidden")(h)
    logit = layers.Dense(1, use_bias=False, name="logit")(h)
    return keras.Model(onehot, ops.reshape(logit, (-1, num_rep)), name=name)
