"""kerasgan: GAN families for Keras 3, trained with ``fit``, exportable generators.

Importing the package registers every family with Keras serialization, so
``keras.saving.load_model("gan.keras")`` works after ``import kerasgan``.

Example:
    >>> import keras, kerasgan
    >>> gan = kerasgan.models.DCGAN(image_shape=(28, 28, 1), latent_dim=100)
    >>> gan.compile()
    >>> gan.fit(kerasgan.data.load("mnist-10k", batch_size=128), epochs=5)
    >>> images = gan.generate(16, seed=0)
"""

__version__ = "0.1.0"

from kerasgan import losses, penalties, precision, layers  # noqa: E402,F401
from kerasgan.gan import GAN  # noqa: E402,F401
from kerasgan import models  # noqa: E402,F401
from kerasgan import data  # noqa: E402,F401
from kerasgan import callbacks  # noqa: E402,F401
from kerasgan import export  # noqa: E402,F401
from kerasgan import metrics  # noqa: E402,F401
from kerasgan import zoo  # noqa: E402,F401

__all__ = ["GAN", "__version__", "losses", "penalties", "precision", "models", "data", "callbacks", "export", "metrics", "zoo"]
