"""``kerasgan.zoo.list / info / load / download / from_preset``."""

import copy
import os

from kerasgan.cache import file_sha256
from kerasgan.zoo.catalog import CatalogError, check_name, load_catalog

_CATALOG = None


def _families():
    from kerasgan import models

    return set(models.names())


def catalog():
    """The validated catalog (read once)."""
    global _CATALOG
    if _CATALOG is None:
        _CATALOG = load_catalog(families=_families())
    return _CATALOG


def checkout_dir():
    """The ``zoo/`` folder of a source checkout: next to the package when kerasgan
    runs from its checkout (editable install), else ``./zoo`` when the current
    folder is a kerasgan checkout (a ``pip install .`` used from the checkout).
    Files from it are sha256-verified like any other source."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for candidate in (os.path.join(here, os.pardir, "zoo"), os.path.join(os.getcwd(), "zoo")):
        candidate = os.path.normpath(candidate)
        if os.path.isfile(os.path.join(candidate, "build_entry.py")):
            return candidate
    return None


def list():  # noqa: A001 (the issue's public name)
    """Names of the zoo entries."""
    return sorted(catalog()["entries"])


def info(name):
    """The catalog entry ``name`` (a copy).

    Raises:
        CatalogError: an invalid or unknown name (the message lists the known ones).
    """
    check_name(name)
    entries = catalog()["entries"]
    if name not in entries:
        raise CatalogError(f"no zoo entry {name!r}: choose one of {', '.join(sorted(entries))}")
    return copy.deepcopy(entries[name])


def download(name, role="generator", progress=True):
    """Fetches (once) and verifies a file of entry ``name``; returns its local path."""
    from kerasgan.zoo.download import fetch

    entry = info(name)
    spec = entry["files"][role]
    return fetch(spec["path"], spec["sha256"], spec["size"], entry_url=entry["url"],
                 checkout_dir=checkout_dir(), progress=progress)


def from_preset(name, cls=None, progress=True):
    """The GAN of zoo entry or preset ``name`` with its pretrained generator weights.

    ``name`` is a built-in entry name, a preset folder written by
    :func:`kerasgan.zoo.save_to_preset`, ``hf://owner/name[@revision]`` or
    ``kaggle://owner/model/framework/variation[/version]`` (see
    :mod:`kerasgan.zoo.preset`: every file is verified before it is read).

    The discriminator is freshly initialised (the zoo ships generators); the
    generator weights are loaded into ``generator`` (and the EMA copy). A
    token-sequence entry's vocabulary (its ``vocabulary`` file, sha256-verified
    like the weights) goes into the model's config, so ``generate(n, seed,
    temperature)`` decodes sentences.
    """
    from kerasgan.zoo import preset

    if preset.is_preset_handle(name) and name not in catalog()["entries"]:
        return preset.load_preset(name, cls=cls, progress=progress)
    entry = info(name)
    vocabulary = None
    if "vocabulary" in entry["files"]:
        vocabulary = download(name, role="vocabulary", progress=progress)
    return preset.build_model(entry["family"], entry["config"],
                              download(name, progress=progress), vocabulary=vocabulary,
                              cls=cls, what=f"zoo entry {name!r}")


def load(name, progress=True):
    """The pretrained generator of entry ``name``: a Keras model (``z`` -> images
    in [-1, 1]), downloaded once, sha256-verified and cached.

    A token-sequence entry's generator is its step network (``[token, *state]
    -> [logits, *state]``); for sentences use :func:`from_preset`, whose
    ``generate(n, seed, temperature)`` samples and decodes them."""
    return from_preset(name, progress=progress).generator


def load_packable(run):
    """The model of a finished run folder (its ``gan.keras``) or a ``.keras`` file.

    Raises:
        CatalogError: no such file.
    """
    import keras

    path = os.fspath(run)
    if os.path.isdir(path):
        path = os.path.join(path, "gan.keras")
    if not os.path.isfile(path):
        raise CatalogError(f"{path} not found: pack a finished run (its gan.keras) or a "
                           ".keras file")
    return keras.saving.load_model(path)


def pack(run, name, out_dir="zoo"):
    """Writes a trained generator (the EMA one when kept) as
    ``OUT_DIR/NAME/generator.weights.h5`` and returns its catalog ``files`` record
    (path, sha256, size). The maintainer's step between training and the catalog
    (:func:`kerasgan.zoo.entry.build_entry` adds the samples, the card and the
    catalog entry).

    A token-sequence model's vocabulary is written beside it as
    ``OUT_DIR/NAME/vocabulary.json`` (the ``vocabulary`` file of the record).

    Args:
        run: a finished run folder (its ``gan.keras``), a ``.keras`` file, or a
            loaded model.
        name: the entry name.
        out_dir: the zoo folder.
    """
    from kerasgan.images import atomic_write

    check_name(name)
    gan = load_packable(run) if isinstance(run, (str, os.PathLike)) else run
    generator = gan.zoo_networks() if hasattr(gan, "zoo_networks") else \
        getattr(gan, "sampling_generator", gan)
    relpath = f"{name}/generator.weights.h5"
    path = os.path.join(out_dir, relpath)
    atomic_write(path, generator.save_weights, suffix=".weights.h5")
    files = {"generator": relpath}
    vocabulary = getattr(gan, "vocabulary", None)
    if vocabulary is not None and hasattr(vocabulary, "to_json"):
        import json

        files["vocabulary"] = f"{name}/vocabulary.json"

        def write_vocabulary(tmp):  # the format of Vocabulary.save / Vocabulary.load
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(vocabulary.to_json(), f, ensure_ascii=False)

        atomic_write(os.path.join(out_dir, files["vocabulary"]), write_vocabulary)
    return {role: {"path": rel, "sha256": file_sha256(os.path.join(out_dir, rel)),
                   "size": os.path.getsize(os.path.join(out_dir, rel))}
            for role, rel in files.items()}
