"""The maximum-likelihood baseline of the token-sequence families."""

import keras

from kerasgan.core.sequence import SequenceGAN
from kerasgan.models import register
from kerasgan.models.sequence_networks import lstm_generator
from kerasgan.spec import TOKEN_SEQUENCE, FamilySpec, Option


@register("mle")
@keras.saving.register_keras_serializable(package="kerasgan")
class MLE(SequenceGAN):
    """An LSTM language model trained by maximum likelihood (teacher forcing)
    only: the same generator as SeqGAN's, and the baseline every text GAN is
    compared with ("Language GANs Falling Short", Caccia et al. 2020). It has
    no discriminator; its one phase is ``"likelihood"``, and ``g_loss`` is the
    training NLL per token (nats).

    Args:
        vocab_size, seq_len, vocabulary: see
            :class:`kerasgan.core.sequence.SequenceGAN`.
        embedding_dim: token embedding size.
        hidden_dim: LSTM units.
        seed, **kwargs: as :class:`kerasgan.core.AdversarialModel`.
    """

    spec = FamilySpec(
        kind=TOKEN_SEQUENCE, batch="sequences",
        summary="LSTM language model by maximum likelihood only: the text GANs' baseline",
        options=(Option("embedding_dim", int, help="token embedding size", minimum=1),
                 Option("hidden_dim", int, help="LSTM units", minimum=1)),
        recommended={"epochs": 120, "batch_size": 64},
        references=("Caccia et al., Language GANs Falling Short, ICLR 2020",),
    )
    tiny_config = {"vocab_size": 12, "seq_len": 6, "embedding_dim": 8, "hidden_dim": 8}

    def __init__(self, vocab_size, seq_len, vocabulary=None, embedding_dim=32, hidden_dim=32,
                 pretrain_steps=0, ema_decay=None, seed=None, **kwargs):
        self.embedding_dim, self.hidden_dim = int(embedding_dim), int(hidden_dim)
        generator = lstm_generator(int(vocab_size), self.embedding_dim, self.hidden_dim)
        super().__init__(generator, None, vocab_size, seq_len, vocabulary=vocabulary,
                         pretrain_steps=pretrain_steps, ema_decay=ema_decay, seed=seed, **kwargs)

    def get_config(self):
        return {**self._base_config(), "embedding_dim": self.embedding_dim,
                "hidden_dim": self.hidden_dim}

    def default_optimizers(self):
        # SeqGAN's reference code pre-trains with Adam(0.01), gradients clipped to norm 5
        return (keras.optimizers.Adam(0.01, global_clipnorm=5.0),
                keras.optimizers.Adam(1e-4))

    @property
    def metrics(self):
        return [self.g_loss_tracker]

    def phase_step(self, phase, data):
        return self.mle_step(data)
