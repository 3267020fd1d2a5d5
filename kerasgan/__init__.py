"""kerasgan: GAN families for Keras 3, trained with ``fit``, exportable generators."""

__version__ = "0.1.0"

from kerasgan import losses, penalties  # noqa: F401
from kerasgan.gan import GAN  # noqa: F401
from kerasgan import models  # noqa: F401
from kerasgan import data  # noqa: F401
from kerasgan import callbacks  # noqa: F401

__all__ = ["GAN", "losses", "penalties", "models", "data", "callbacks", "__version__"]
