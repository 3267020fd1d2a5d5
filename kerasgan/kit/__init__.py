"""``kerasgan.kit``: the TensorFlow-free deployment kit (the repository's ``export/``
folder) as a subpackage, so that ``kerasgan generate`` and ``kerasgan serve`` run the
same files a user copies.

An installed wheel holds the kit's files here (setup.cfg maps ``kerasgan.kit`` to
``export/``, and this file is not shipped); in a checkout (tests, development
installs) this file points the package at ``export/`` beside it.
"""

import os

_EXPORT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))), "export")
if os.path.isfile(os.path.join(_EXPORT, "onnx_generator.py")):
    __path__.append(_EXPORT)  # noqa: F821 (a package's own __path__)
