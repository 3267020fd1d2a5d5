"""kerasgan: GAN families for Keras 3, trained with ``fit``, exportable generators.

Importing the package registers every family with Keras serialization, so
``keras.saving.load_model("gan.keras")`` works after ``import kerasgan``.

The ``kerasgan`` command imports only what each sub-command needs (its
``--help``, ``--version`` and ``families`` answer without TensorFlow); the
submodules are also reachable lazily as attributes (``kerasgan.models``).

Example:
    >>> import keras, kerasgan
    >>> gan = kerasgan.models.get("NAME", image_shape=(28, 28, 1))  # see kerasgan.models.names()
    >>> gan.compile()
    >>> gan.fit(kerasgan.data.load("mnist-10k", batch_size=128), epochs=5)
    >>> images = gan.generate(16, seed=0)
"""

import importlib
import os
import sys

# Before anything imports TensorFlow: oneDNN, threads (see kerasgan/cpu.py).
from kerasgan import cpu as _cpu  # noqa: E402

_cpu.configure()

from kerasgan.version import __version__  # noqa: E402

_SUBMODULES = ("losses", "penalties", "precision", "layers", "models", "data", "callbacks",
               "export", "metrics", "zoo", "spec", "utils", "distribute", "run", "cli", "version", "core", "cpu")

__all__ = ["GAN", "__version__", "losses", "penalties", "precision", "models", "data",
           "callbacks", "export", "metrics", "zoo"]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"kerasgan.{name}")
    if name == "GAN":
        from kerasgan.gan import GAN

        return GAN
    raise AttributeError(f"module 'kerasgan' has no attribute {name!r}")


def _started_as_command():
    """True while the ``kerasgan`` command (console script or ``python -m
    kerasgan.cli``) is starting: it imports what it needs itself."""
    argv = getattr(sys, "orig_argv", None) or sys.argv
    if os.path.basename(sys.argv[0] or "") in ("kerasgan", "kerasgan.exe", "kerasgan-script.py"):
        return True
    return "-m" in argv and argv[argv.index("-m") + 1: argv.index("-m") + 2] == ["kerasgan.cli"]


if not _started_as_command():
    from kerasgan import losses, penalties, precision, layers  # noqa: E402,F401
    from kerasgan.gan import GAN  # noqa: E402,F401
    from kerasgan import models  # noqa: E402,F401
    from kerasgan import data  # noqa: E402,F401
    from kerasgan import callbacks  # noqa: E402,F401
    from kerasgan import export  # noqa: E402,F401
    from kerasgan import metrics  # noqa: E402,F401
    from kerasgan import zoo  # noqa: E402,F401  (registers the preset loader)
