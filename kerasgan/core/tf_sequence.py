"""The TensorFlow side of the token-sequence kind: decoding loops and sampling.

A sequence generator is a *step network*: ``[token, *state] -> [logits,
*state]`` (one token in, the next token's logits and the new recurrent state
out; see :class:`kerasgan.core.sequence.SequenceGAN`). The functions here
unroll it:

- :func:`teacher_forced`: the logits of every position of given sequences
  (maximum-likelihood loss, NLL, policy-gradient log-probabilities);
- :func:`sample`: sequences drawn token by token;
- :func:`rollouts`: the Monte-Carlo completions of every prefix.

Random draws are *inputs* (uniforms drawn by the caller for the global batch
and sliced per replica, as latents are), so the samples of a mirrored run equal
those of one device; a token is picked from its uniform ``u`` by the inverse
CDF of ``softmax(logits / temperature)``: the first token whose cumulative
probability exceeds ``u`` times the total (the rule of
:func:`kerasgan.sampling.pick_tokens`, which ``generate`` and the deployment kit
use in NumPy).
"""

import tensorflow as tf

__all__ = ["pick", "teacher_forced", "sample", "rollouts", "one_hot", "gumbel", "nll_function",
           "zero_states", "gumbel_softmax_sample"]


def _step(step_net, token, states, training):
    out = step_net([token, *states], training=training)
    return tf.cast(out[0], tf.float32), list(out[1:])


def zero_states(step_net, batch):
    """Zero recurrent states for ``batch`` rows (the step network's inputs after the token)."""
    return [tf.zeros(tf.stack([batch, *x.shape[1:]]), x.dtype) for x in step_net.inputs[1:]]


def pick(logits, u, temperature=1.0):
    """Tokens picked by the inverse CDF: ``logits`` ``(..., V)``, ``u`` ``(...)`` in [0, 1)."""
    p = tf.nn.softmax(tf.cast(logits, tf.float32) / temperature, axis=-1)
    cdf = tf.cumsum(p, axis=-1)
    below = tf.cast(cdf <= u[..., None] * cdf[..., -1:], tf.int32)
    return tf.minimum(tf.reduce_sum(below, axis=-1), tf.shape(logits)[-1] - 1)


def teacher_forced(step_net, tokens, start_id, training=False, states=None):
    """Logits ``(B, L, V)`` float32 of every position of ``tokens`` ``(B, L)``:
    position ``t`` is predicted from ``start, tokens[:, :t]``."""
    length = tokens.shape[1]
    batch = tf.shape(tokens)[0]
    states = zero_states(step_net, batch) if states is None else states
    token = tf.fill([batch], tf.constant(start_id, tokens.dtype))
    out = []
    for t in range(length):
        logits, states = _step(step_net, token, states, training)
        out.append(logits)
        token = tokens[:, t]
    return tf.stack(out, axis=1)


def sample(step_net, uniforms, start_id, temperature=1.0, training=False, logits_out=False):
    """Sequences ``(B, L)`` int32 drawn with ``uniforms`` ``(B, L)`` (and,
    with ``logits_out``, the logits they were drawn from, ``(B, L, V)``)."""
    length = uniforms.shape[1]
    batch = tf.shape(uniforms)[0]
    states = zero_states(step_net, batch)
    token = tf.fill([batch], tf.constant(start_id, tf.int32))
    tokens, all_logits = [], []
    for t in range(length):
        logits, states = _step(step_net, token, states, training)
        token = pick(logits, uniforms[:, t], temperature)
        tokens.append(token)
        all_logits.append(logits)
    tokens = tf.stack(tokens, axis=1)
    return (tokens, tf.stack(all_logits, axis=1)) if logits_out else tokens


def rollouts(step_net, tokens, uniforms, start_id):
    """Monte-Carlo completions of every proper prefix of ``tokens`` ``(B, L)``.

    ``uniforms`` ``(B, M, L - 1, L)``: for roll-out ``m`` of the prefix of
    length ``t`` (``t = 1 .. L-1``), ``uniforms[:, m, t - 1, t:]`` draw its
    positions ``t .. L-1``. The prefix's states come from one teacher-forced
    pass; each prefix length is then completed for all ``M`` roll-outs at once
    (a ``tf.while_loop`` over the remaining positions).

    Returns:
        int32 ``(L - 1, B, M, L)``: completion ``[t - 1, b, m]`` keeps
        ``tokens[b, :t]`` and samples the rest.
    """
    length = tokens.shape[1]
    batch = tf.shape(tokens)[0]
    m = uniforms.shape[1]
    # states s_t before position t (s_0 = zeros), from one pass over the sequence
    states = zero_states(step_net, batch)
    token = tf.fill([batch], tf.constant(start_id, tf.int32))
    before = []
    for t in range(length):
        before.append((token, states))
        _, states = _step(step_net, token, states, False)
        token = tokens[:, t]
    out = []
    for t in range(1, length):
        # rows b * M + m: start at position t with input tokens[:, t - 1] and state s_t
        in_token, s_t = before[t]  # input tokens[:, t - 1] and state s_t
        rep = lambda x: tf.repeat(x, m, axis=0)  # noqa: E731
        cur = rep(in_token)
        st = [rep(s) for s in s_t]
        u = tf.reshape(uniforms[:, :, t - 1, :], [batch * m, length])

        def body(p, cur, st, acc):
            logits, st2 = _step(step_net, cur, st, False)
            nxt = pick(logits, tf.gather(u, p, axis=1))
            return p + 1, nxt, st2, acc.write(p - t, nxt)

        acc = tf.TensorArray(tf.int32, size=length - t)
        _, _, _, acc = tf.while_loop(lambda p, *_: p < length, body,
                                     (tf.constant(t), cur, st, acc))
        sampled = tf.transpose(acc.stack())  # (B*M, L - t)
        prefix = tf.repeat(tokens[:, :t], m, axis=0)
        out.append(tf.reshape(tf.concat([prefix, sampled], axis=1), [batch, m, length]))
    return tf.stack(out, axis=0)


def one_hot(tokens, depth, dtype=tf.float32):
    """``tokens`` as one-hot vectors."""
    return tf.one_hot(tokens, depth, dtype=dtype)


def gumbel(uniforms, eps=1e-10):
    """Gumbel noise ``-log(-log u)`` from uniforms."""
    return -tf.math.log(-tf.math.log(uniforms + eps) + eps)


_NLL_FNS = {}


def nll_function(step_net, start_id):
    """``(tokens (B, L), temperature) -> per-sequence mean NLL per token`` (of
    ``softmax(logits / temperature)``) as a ``tf.function`` (cached per
    network), callable in the cross-replica context."""
    import weakref

    key = (id(step_net), start_id)
    found = _NLL_FNS.get(key)
    if found is not None and found[0]() is step_net:
        return found[1]
    ref = weakref.ref(step_net)

    def nll(tokens, temperature):
        logits = teacher_forced(ref(), tokens, start_id, training=False) / temperature
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tokens, logits=logits)
        return tf.reduce_mean(ce, axis=-1)

    fn = tf.function(nll, reduce_retracing=True, autograph=False)
    _NLL_FNS[key] = (ref, fn)
    return fn


def gumbel_softmax_sample(step_net, uniforms, start_id, beta, training=False):
    """Relaxed sampling (Nie et al. 2019): at each position the Gumbel-perturbed logits
    ``g = logits + gumbel(u)`` pick the next input token (``argmax g``) and give
    the differentiable soft one-hot ``softmax(beta * g)`` the discriminator
    sees. ``uniforms`` ``(B, L, V)``.

    Returns:
        ``(tokens (B, L) int32, soft (B, L, V) float32)``.
    """
    length = uniforms.shape[1]
    batch = tf.shape(uniforms)[0]
    states = zero_states(step_net, batch)
    token = tf.fill([batch], tf.constant(start_id, tf.int32))
    tokens, soft = [], []
    for t in range(length):
        logits, states = _step(step_net, token, states, training)
        g = logits + gumbel(uniforms[:, t])
        token = tf.argmax(g, axis=-1, output_type=tf.int32)
        tokens.append(token)
        soft.append(tf.nn.softmax(beta * g, axis=-1))
    return tf.stack(tokens, axis=1), tf.stack(soft, axis=1)
