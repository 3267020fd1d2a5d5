"""RelGAN (Nie, Narodytska, Patel, ICLR 2019): relational memory, Gumbel-softmax, multiple representations."""

import keras

from kerasgan.core import tf_sequence, tf_step
from kerasgan.core.sequence import SequenceGAN
from kerasgan.models import register
from kerasgan.models.seqgan import _ints
from kerasgan.models.sequence_networks import one_hot_cnn_discriminator, relational_generator
from kerasgan.spec import TOKEN_SEQUENCE, FamilySpec, Option
from kerasgan.utils import check_int, check_number


@register("relgan")
@keras.saving.register_keras_serializable(package="kerasgan")
class RelGAN(SequenceGAN):
    """RelGAN: the successor that removes SeqGAN's weaknesses.

    SeqGAN's reward is a high-variance Monte-Carlo estimate, its LSTM
    generator has little capacity, and its single-representation discriminator
    gives a weak signal. RelGAN (Nie et al. 2019) replaces them:

    - the generator is a *relational memory* core (Santoro et al. 2018): a
      memory that attends over itself and the input with multi-head attention;
    - the generator is trained through the discriminator directly: tokens are
      drawn with the Gumbel-max trick and the discriminator sees the
      differentiable soft one-hot ``softmax(β (logits + g))``, whose inverse
      temperature β rises from 1 to ``beta_max`` over ``temperature_steps``
      adversarial steps (``β = beta_max ** (n / N)``: the paper's exponential
      schedule), so there are no roll-outs and no policy gradient;
    - the discriminator embeds each (soft) one-hot sequence ``num_rep`` times
      and judges every representation with the same convolutions;
    - the loss is the relativistic standard GAN loss (RSGAN):
      ``D: softplus(-(D(real) - D(fake)))``, ``G: softplus(-(D(fake) - D(real)))``.

    Phases: ``"likelihood"`` (``pretrain_steps``, teacher forcing; Adam 1e-2), then
    ``"adversarial"`` (``d_steps`` discriminator updates and one generator
    update a step; Adam 1e-4): the default generator optimizer switches its
    learning rate at ``pretrain_steps`` (a piecewise-constant schedule on its
    iterations).

    Sizes here are smaller than the paper's (head size 256, 64
    representations of 64 units): see docs/text.md for what was measured.

    Args:
        vocab_size, seq_len, vocabulary, pretrain_steps: see
            :class:`kerasgan.core.sequence.SequenceGAN`.
        embedding_dim: token embedding size.
        mem_slots, head_size, num_heads: the relational memory.
        beta_max: final inverse temperature of the Gumbel-softmax.
        temperature_steps: adversarial steps over which β rises to ``beta_max``.
        d_steps: discriminator updates per adversarial step.
        d_embedding_dim, num_rep, filter_sizes, num_filters, d_dropout: the discriminator.
        pretrain_lr, adversarial_lr: the default generator optimizer's rates.
        seed, **kwargs: as :class:`kerasgan.core.AdversarialModel`.
    """

    spec = FamilySpec(
        kind=TOKEN_SEQUENCE, batch="sequences",
        summary="RelGAN: relational memory, Gumbel-softmax, multi-representation D (Nie et al. 2019)",
        options=(
            Option("embedding_dim", int, help="token embedding size", minimum=1),
            Option("mem_slots", int, help="relational memory rows", minimum=1),
            Option("head_size", int, help="units per attention head", minimum=1),
            Option("num_heads", int, help="attention heads", minimum=1),
            Option("beta_max", float, help="final inverse temperature of the Gumbel-softmax",
                   minimum=1.0),
            Option("temperature_steps", int, help="adversarial steps over which the inverse "
                   "temperature rises to --beta-max", minimum=1),
            Option("d_steps", int, help="discriminator updates per adversarial step", minimum=1),
            Option("d_embedding_dim", int, help="units of each embedded representation",
                   minimum=1),
            Option("num_rep", int, help="embedded representations in the discriminator",
                   minimum=1),
            Option("filter_sizes", str, help="discriminator convolution widths, comma-separated",
                   metavar="LIST"),
            Option("num_filters", str, help="filters per width, comma-separated", metavar="LIST"),
            Option("d_dropout", float, help="discriminator dropout rate", minimum=0.0),
            Option("pretrain_lr", float, help="generator learning rate while pre-training",
                   minimum=0.0),
            Option("adversarial_lr", float, help="generator learning rate while adversarial",
                   minimum=0.0),
        ),
        recommended={"batch_size": 64},
        references=("Nie, Narodytska, Patel, RelGAN: Relational Generative Adversarial "
                    "Networks for Text Generation, ICLR 2019",),
    )
    tiny_config = {"vocab_size": 12, "seq_len": 6, "embedding_dim": 8, "mem_slots": 1,
                   "head_size": 4, "num_heads": 2, "pretrain_steps": 1, "d_steps": 1,
                   "d_embedding_dim": 4, "num_rep": 3, "filter_sizes": (2, 3),
                   "num_filters": (4, 4), "temperature_steps": 10}

    def __init__(self, vocab_size, seq_len, vocabulary=None, embedding_dim=32, mem_slots=1,
                 head_size=64, num_heads=2, pretrain_steps=1000, beta_max=100.0,
                 temperature_steps=1000, d_steps=1, d_embedding_dim=16, num_rep=16,
                 filter_sizes=(2, 3, 4, 5), num_filters=(100, 100, 100, 100), d_dropout=0.25,
                 pretrain_lr=1e-2, adversarial_lr=1e-4, ema_decay=None, seed=None, **kwargs):
        self.embedding_dim = check_int(embedding_dim, "embedding_dim", 1)
        self.mem_slots = check_int(mem_slots, "mem_slots", 1)
        self.head_size = check_int(head_size, "head_size", 1)
        self.num_heads = check_int(num_heads, "num_heads", 1)
        self.beta_max = check_number(beta_max, "beta_max", lambda v: v >= 1, "a number ≥ 1")
        self.temperature_steps = check_int(temperature_steps, "temperature_steps", 1)
        self.d_steps = check_int(d_steps, "d_steps", 1)
        self.d_embedding_dim = check_int(d_embedding_dim, "d_embedding_dim", 1)
        self.num_rep = check_int(num_rep, "num_rep", 1)
        self.filter_sizes = _ints(filter_sizes, "filter_sizes")
        self.num_filters = _ints(num_filters, "num_filters")
        self.d_dropout = check_number(d_dropout, "d_dropout", lambda v: 0.0 <= v < 1.0,
                                      "a number in [0, 1)")
        self.pretrain_lr = check_number(pretrain_lr, "pretrain_lr", lambda v: v > 0, "> 0")
        self.adversarial_lr = check_number(adversarial_lr, "adversarial_lr", lambda v: v > 0,
                                           "> 0")
        vocab_size, seq_len = int(vocab_size), int(seq_len)
        generator = relational_generator(vocab_size, self.embedding_dim, self.mem_slots,
                                         self.head_size, self.num_heads)
        discriminator = one_hot_cnn_discriminator(
            vocab_size, seq_len, self.d_embedding_dim, self.num_rep, self.filter_sizes,
            self.num_filters, self.d_dropout, seed=seed)
        super().__init__(generator, discriminator, vocab_size, seq_len, vocabulary=vocabulary,
                         pretrain_steps=pretrain_steps, ema_decay=ema_decay, seed=seed, **kwargs)

    def get_config(self):
        return {**self._base_config(), "embedding_dim": self.embedding_dim,
                "mem_slots": self.mem_slots, "head_size": self.head_size,
                "num_heads": self.num_heads, "beta_max": self.beta_max,
                "temperature_steps": self.temperature_steps, "d_steps": self.d_steps,
                "d_embedding_dim": self.d_embedding_dim, "num_rep": self.num_rep,
                "filter_sizes": list(self.filter_sizes), "num_filters": list(self.num_filters),
                "d_dropout": self.d_dropout, "pretrain_lr": self.pretrain_lr,
                "adversarial_lr": self.adversarial_lr}

    def default_optimizers(self):
        schedule = keras.optimizers.schedules.PiecewiseConstantDecay(
            [self.pretrain_steps], [self.pretrain_lr, self.adversarial_lr])
        return (keras.optimizers.Adam(schedule, global_clipnorm=5.0),
                keras.optimizers.Adam(1e-4, global_clipnorm=5.0))

    def penalty_names(self):
        return ["beta"]

    def phases(self):
        return [("likelihood", self.pretrain_steps), ("adversarial", None)]

    def beta(self):
        """The Gumbel-softmax inverse temperature of the current step."""
        n = keras.ops.cast(self.steps_done - self.pretrain_steps, "float32")
        frac = keras.ops.clip(n / float(self.temperature_steps), 0.0, 1.0)
        return keras.ops.power(self.beta_max, frac)

    def phase_step(self, phase, data):
        if phase == "likelihood":
            return self.mle_step(data)
        tokens = self._tokens(data)
        local_batch = tf_step.batch_size(tokens)
        offset, global_batch = tf_step.batch_layout(local_batch)
        layout = (offset, local_batch, global_batch)
        real = tf_sequence.one_hot(tokens, self.vocab_size)
        beta = self.beta()

        def relaxed(training):
            u = self.uniforms((self.seq_len, self.vocab_size), *layout, minval=0.0, maxval=1.0)
            return tf_sequence.gumbel_softmax_sample(self.generator, u, self.start_id, beta,
                                                     training=training)[1]

        for _ in range(self.d_steps):
            fake = relaxed(False)

            def d_loss(_, fake=fake):
                real_out = self._float32(self.discriminator(real, training=True))
                fake_out = self._float32(self.discriminator(fake, training=True))
                per_example = keras.ops.mean(keras.ops.softplus(fake_out - real_out), axis=-1)
                return per_example, per_example

            d_per_example = self.minimize("d", d_loss, global_batch)

        def g_loss(_):
            fake = relaxed(True)
            real_out = self._float32(self.discriminator(real, training=True))
            fake_out = self._float32(self.discriminator(fake, training=True))
            per_example = keras.ops.mean(keras.ops.softplus(real_out - fake_out), axis=-1)
            return per_example, per_example

        g_per_example = self.minimize("g", g_loss, global_batch, ema=True)
        self.d_loss_tracker.update_state(d_per_example)
        self.g_loss_tracker.update_state(g_per_example)
        self.extra_trackers["beta"].update_state(keras.ops.ones_like(g_per_example) * beta)
        self.steps_done.assign_add(1)
        return self._step_logs()
