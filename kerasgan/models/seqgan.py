"""SeqGAN (Yu et al. 2017): policy gradient with Monte-Carlo roll-outs."""

import keras

from kerasgan import precision
from kerasgan.core import tf_sequence, tf_step
from kerasgan.core.sequence import SequenceGAN
from kerasgan.models import register
from kerasgan.models.sequence_networks import (
    SEQGAN_FILTER_SIZES,
    SEQGAN_NUM_FILTERS,
    lstm_generator,
    token_cnn_discriminator,
)
from kerasgan.spec import TOKEN_SEQUENCE, FamilySpec, Option
from kerasgan.utils import check_int, check_number


def _ints(value, name):
    """A tuple of positive ints from a list or a comma-separated string."""
    if isinstance(value, str):  # the command line's "1,2,3"
        parts = [v for v in value.replace(" ", "").split(",") if v]
        if not parts or not all(p.isdigit() for p in parts):
            raise ValueError(f"{name} must be positive integers separated by commas, e.g. "
                             f"2,3,4, got {value!r}")
        value = [int(p) for p in parts]
    return tuple(check_int(v, name, 1) for v in value)


@register("seqgan")
@keras.saving.register_keras_serializable(package="kerasgan")
class SeqGAN(SequenceGAN):
    """SeqGAN: the generator is a policy whose reward is the discriminator's
    belief that a finished sequence is real, estimated for every prefix by
    Monte-Carlo roll-outs.

    Phases (a function of the step, see :class:`kerasgan.core.sequence.SequenceGAN`):

    1. ``"likelihood"``, ``pretrain_steps`` steps: maximum-likelihood pre-training
       of the generator (teacher forcing);
    2. ``"pretrain_d"``, ``pretrain_d_steps`` steps: the discriminator learns
       real sequences from the generator's samples (binary cross-entropy);
    3. ``"adversarial"``: per step, one policy-gradient update of the generator
       (REINFORCE with the roll-out rewards: the loss of a sequence is
       ``-sum_t Q_t log p(y_t | y_<t)``), then ``d_steps`` discriminator
       updates on fresh samples.

    The reward of prefix ``y_1..t`` is the mean probability of "real" the
    discriminator gives ``rollouts`` completions of it, sampled by the
    *roll-out network*, a delayed copy of the generator (after each generator
    update ``θ_roll ← δ θ_roll + (1 - δ) θ_G`` with ``δ = rollout_delay``);
    the last token's reward is that of the sequence itself.

    Args:
        vocab_size, seq_len, vocabulary, pretrain_steps: see
            :class:`kerasgan.core.sequence.SequenceGAN`.
        embedding_dim, hidden_dim: the LSTM generator's sizes (32, 32: the
            paper's synthetic experiment).
        pretrain_d_steps: steps of discriminator pre-training.
        rollouts: Monte-Carlo roll-outs per prefix (16 in the paper).
        rollout_delay: δ of the roll-out network's update (0.8 in the reference code).
        d_steps: discriminator updates per adversarial step.
        d_embedding_dim, filter_sizes, num_filters, d_dropout, d_l2: the
            discriminator (the paper's: 64, widths 1..10, 15, 20 with 100-200
            filters each, dropout 0.25, L2 0.2 on the output layer).
        pretrain_lr: the learning rate of the default generator optimizer (Adam,
            gradients clipped to norm 5), which pre-training uses.
        adversarial_lr: the learning rate of the policy gradient's own copy of
            the generator optimizer. The policy gradient keeps its own moment
            estimates, as the reference code (two Adam(0.01)): its loss is summed
            over the sequence, about ``seq_len`` times the pre-training's
            per-token mean, and pre-training's second moments would turn it into
            steps several times too large (docs/text.md: on the COCO captions,
            12 such steps ruin the generator; a fresh Adam does not).
        seed, **kwargs: as :class:`kerasgan.core.AdversarialModel`.
    """

    spec = FamilySpec(
        kind=TOKEN_SEQUENCE, batch="sequences",
        summary="SeqGAN: LSTM policy, CNN discriminator, Monte-Carlo roll-outs (Yu et al. 2017)",
        options=(
            Option("embedding_dim", int, help="token embedding size", minimum=1),
            Option("hidden_dim", int, help="LSTM units", minimum=1),
            Option("pretrain_d_steps", int, help="steps of discriminator pre-training after "
                   "the generator's", minimum=0),
            Option("rollouts", int, help="Monte-Carlo roll-outs per prefix", minimum=1),
            Option("rollout_delay", float, help="delay δ of the roll-out network "
                   "(θ_roll ← δ θ_roll + (1-δ) θ_G)", minimum=0.0),
            Option("d_steps", int, help="discriminator updates per adversarial step", minimum=1),
            Option("d_embedding_dim", int, help="discriminator token embedding size", minimum=1),
            Option("filter_sizes", str, help="discriminator convolution widths, comma-separated",
                   metavar="LIST"),
            Option("num_filters", str, help="filters per width, comma-separated", metavar="LIST"),
            Option("d_dropout", float, help="discriminator dropout rate", minimum=0.0),
            Option("d_l2", float, help="L2 weight of the discriminator's output layer",
                   minimum=0.0),
            Option("pretrain_lr", float, help="generator learning rate while pre-training",
                   minimum=0.0),
            Option("adversarial_lr", float, help="generator learning rate in the policy "
                   "gradient phase", minimum=0.0),
        ),
        recommended={"batch_size": 64},
        references=("Yu, Zhang, Wang, Yu, SeqGAN: Sequence Generative Adversarial Nets with "
                    "Policy Gradient, AAAI 2017",),
    )
    tiny_config = {"vocab_size": 12, "seq_len": 6, "embedding_dim": 8, "hidden_dim": 8,
                   "pretrain_steps": 1, "pretrain_d_steps": 1, "rollouts": 2, "d_steps": 1,
                   "d_embedding_dim": 4, "filter_sizes": (1, 2, 3), "num_filters": (4, 4, 4)}

    def __init__(self, vocab_size, seq_len, vocabulary=None, embedding_dim=32, hidden_dim=32,
                 pretrain_steps=1000, pretrain_d_steps=200, rollouts=16, rollout_delay=0.8,
                 d_steps=1, d_embedding_dim=64, filter_sizes=SEQGAN_FILTER_SIZES,
                 num_filters=SEQGAN_NUM_FILTERS, d_dropout=0.25, d_l2=0.2, pretrain_lr=0.01,
                 adversarial_lr=0.01, ema_decay=None, seed=None, **kwargs):
        self.embedding_dim, self.hidden_dim = int(embedding_dim), int(hidden_dim)
        self.pretrain_d_steps = check_int(pretrain_d_steps, "pretrain_d_steps", 0)
        self.rollouts = check_int(rollouts, "rollouts", 1)
        self.rollout_delay = check_number(rollout_delay, "rollout_delay", lambda v: 0.0 <= v < 1.0,
                                          "a number in [0, 1)")
        self.d_steps = check_int(d_steps, "d_steps", 1)
        self.d_embedding_dim = int(d_embedding_dim)
        self.filter_sizes = _ints(filter_sizes, "filter_sizes")
        self.num_filters = _ints(num_filters, "num_filters")
        self.d_dropout = check_number(d_dropout, "d_dropout", lambda v: 0.0 <= v < 1.0,
                                      "a number in [0, 1)")
        self.d_l2 = check_number(d_l2, "d_l2", lambda v: v >= 0, "a number ≥ 0")
        self.pretrain_lr = check_number(pretrain_lr, "pretrain_lr", lambda v: v > 0, "> 0")
        self.adversarial_lr = check_number(adversarial_lr, "adversarial_lr", lambda v: v > 0,
                                           "> 0")
        vocab_size, seq_len = int(vocab_size), int(seq_len)
        generator = lstm_generator(vocab_size, self.embedding_dim, self.hidden_dim)
        discriminator = token_cnn_discriminator(
            vocab_size, seq_len, self.d_embedding_dim, self.filter_sizes, self.num_filters,
            self.d_dropout, seed=seed)
        super().__init__(generator, discriminator, vocab_size, seq_len, vocabulary=vocabulary,
                         pretrain_steps=pretrain_steps, ema_decay=ema_decay, seed=seed, **kwargs)
        self.rollout_generator = keras.models.clone_model(generator)
        self.rollout_generator.name = "rollout_generator"
        self.rollout_generator.set_weights(generator.get_weights())
        self.rollout_generator.trainable = False
        self.d_loss_output = self.discriminator.get_layer("logit")
        self.pg_optimizer = None  # built by compile

    def get_config(self):
        return {**self._base_config(), "embedding_dim": self.embedding_dim,
                "hidden_dim": self.hidden_dim, "pretrain_d_steps": self.pretrain_d_steps,
                "rollouts": self.rollouts, "rollout_delay": self.rollout_delay,
                "d_steps": self.d_steps, "d_embedding_dim": self.d_embedding_dim,
                "filter_sizes": list(self.filter_sizes), "num_filters": list(self.num_filters),
                "d_dropout": self.d_dropout, "d_l2": self.d_l2,
                "pretrain_lr": self.pretrain_lr, "adversarial_lr": self.adversarial_lr}

    def default_optimizers(self):
        # the reference code: Adam(0.01) with gradients clipped to norm 5 for the
        # generator (pre-training; the policy gradient has its own copy, see
        # compile), Adam(1e-4) for the discriminator
        return (keras.optimizers.Adam(self.pretrain_lr, global_clipnorm=5.0),
                keras.optimizers.Adam(1e-4))

    def compile(self, *args, **kwargs):
        """As :meth:`kerasgan.core.AdversarialModel.compile`, and builds
        ``pg_optimizer``: the policy gradient's optimizer, a copy of the
        generator optimizer's settings at ``adversarial_lr`` with its own
        state (loss-scaled when the generator optimizer is)."""
        super().compile(*args, **kwargs)
        g = self.g_optimizer
        scaled = isinstance(g, keras.optimizers.LossScaleOptimizer)
        inner = g.inner_optimizer if scaled else g
        config = {**inner.get_config(), "learning_rate": self.adversarial_lr,
                  "name": "policy_gradient_" + inner.name}
        pg = inner.__class__.from_config(config)
        self.pg_optimizer = precision.loss_scale_optimizer(pg) if scaled else pg
        with self.distribute_strategy.scope():
            self.pg_optimizer.build(self.generator_trainable_variables())

    def penalty_names(self):
        return ["reward"]

    def phases(self):
        return [("likelihood", self.pretrain_steps), ("pretrain_d", self.pretrain_d_steps),
                ("adversarial", None)]

    # ---------------------------------------------------------------- steps
    def phase_step(self, phase, data):
        if phase == "likelihood":
            logs = self.mle_step(data)
            self._ema_step(self.rollout_generator, self.generator, decay=0.0)
            return logs
        tokens = self._tokens(data)
        local_batch = tf_step.batch_size(tokens)
        offset, global_batch = tf_step.batch_layout(local_batch)
        layout = (offset, local_batch, global_batch)
        if phase == "adversarial":
            self._policy_gradient_step(layout)
        for _ in range(self.d_steps if phase == "adversarial" else 1):
            self._discriminator_step(tokens, layout)
        self.steps_done.assign_add(1)
        return self._step_logs()

    def _sample(self, layout):
        u = self.uniforms((self.seq_len,), *layout)
        return tf_sequence.sample(self.generator, u, self.start_id)

    def _discriminator_step(self, real, layout):
        fake = self._sample(layout)
        bce = keras.losses.binary_crossentropy

        def loss(_):
            real_logit = self._float32(self.discriminator(real, training=True))
            fake_logit = self._float32(self.discriminator(fake, training=True))
            per_example = (bce(keras.ops.ones_like(real_logit)[:, None], real_logit[:, None],
                               from_logits=True)
                           + bce(keras.ops.zeros_like(fake_logit)[:, None], fake_logit[:, None],
                                 from_logits=True))
            kernel, bias = self.d_loss_output.kernel, self.d_loss_output.bias
            l2 = self.d_l2 * 0.5 * (keras.ops.sum(kernel ** 2) + keras.ops.sum(bias ** 2))
            return per_example + l2, per_example

        per_example = self.minimize("d", loss, layout[2])
        self.d_loss_tracker.update_state(per_example)

    def rewards(self, tokens, layout):
        """``Q`` ``(B, L)``: the roll-out reward of every prefix of ``tokens``."""
        length = self.seq_len
        u = self.uniforms((self.rollouts, length - 1, length), *layout)
        completions = tf_sequence.rollouts(self.rollout_generator, tokens, u, self.start_id)
        flat = keras.ops.reshape(completions, (-1, length))
        scores = keras.ops.sigmoid(self._float32(self.discriminator(flat, training=False)))
        scores = keras.ops.reshape(scores, (length - 1, -1, self.rollouts))
        prefix = keras.ops.transpose(keras.ops.mean(scores, axis=-1))  # (B, L - 1)
        last = keras.ops.sigmoid(self._float32(self.discriminator(tokens, training=False)))
        return keras.ops.stop_gradient(keras.ops.concatenate([prefix, last[:, None]], axis=1))

    def _policy_gradient_step(self, layout):
        fake = self._sample(layout)
        q = self.rewards(fake, layout)

        def loss(_):
            logits = tf_sequence.teacher_forced(self.generator, fake, self.start_id,
                                                training=True)
            log_p = -keras.ops.sparse_categorical_crossentropy(fake, logits, from_logits=True)
            per_example = -keras.ops.sum(log_p * q, axis=-1)
            return per_example, per_example

        per_example = self.minimize("g", loss, layout[2], ema=True, optimizer=self.pg_optimizer)
        self.g_loss_tracker.update_state(per_example)
        self.extra_trackers["reward"].update_state(keras.ops.mean(q, axis=-1))
        self._ema_step(self.rollout_generator, self.generator, decay=self.rollout_delay)
