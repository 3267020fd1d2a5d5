"""Presets as keras-hub shapes them: a folder anyone can upload anywhere.

A preset folder holds::

    config.json             {"format": "kerasgan-preset/1", "family": ..., "config": {...}}
    generator.weights.h5    the generator's weights (the EMA one when kept)
    vocabulary.json         a token-sequence model's vocabulary (data, not code)
    README.md               the model card (optional)
    metadata.json           versions, date, parameter count, metrics, and the
                            sha256 and size of every other file of the folder

:func:`save_to_preset` writes one; :func:`load_preset` reads one from a local
folder, a Hugging Face repository (``hf://owner/name[@revision]``, through
``huggingface_hub.snapshot_download``: ``pip install kerasgan[hf]``) or a Kaggle
model (``kaggle://owner/model/framework/variation[/version]``, through
``kagglehub.model_download``: ``pip install kerasgan[kaggle]``). Whatever the
source, the folder is verified file by file against its ``metadata.json``
before anything is read: the remote clients' own checks are not relied on.
The model is built from the family registry with the constructor arguments of
``config.json`` (data only, no code) and its weights loaded from the ``.h5``.
"""

import datetime
import json
import os
import platform
import re
import shutil
import tempfile

from kerasgan.cache import file_sha256
from kerasgan.zoo.catalog import CatalogError

FORMAT = "kerasgan-preset/1"
CONFIG = "config.json"
WEIGHTS = "generator.weights.h5"
VOCABULARY = "vocabulary.json"
METADATA = "metadata.json"
CARD = "README.md"
#: suffixes of files that hold a model or code that loads: refused unless listed
MODEL_SUFFIXES = (".h5", ".hdf5", ".keras", ".pkl", ".pickle", ".pt", ".pth", ".bin", ".ckpt",
                  ".safetensors", ".npz", ".npy", ".pb", ".onnx", ".joblib", ".msgpack")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_HF_REPO = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")
_KAGGLE_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class PresetError(CatalogError):
    """A preset cannot be written, fetched or verified; the message is one line
    naming the file and what to do."""


# ------------------------------------------------------------------ saving
def save_to_preset(model, folder, metrics=None, card=None):
    """Writes ``model`` as a preset folder (see the module docstring).

    The files are written into a temporary sibling folder that is renamed to
    ``folder`` at the end: no half-written preset is ever at ``folder``.

    Args:
        model: a kerasgan model (an ``AdversarialModel``), a finished run
            folder (its ``gan.keras``) or a ``.keras`` file.
        folder: the preset folder to create (absent or empty).
        metrics: measured metrics to record in ``metadata.json``: a JSON-able
            dict or list, or the path of a JSON file (``kerasgan evaluate --out``).
        card: the model card: text for ``README.md``, or the path of a file;
            None writes a short card of its own.

    Returns:
        The preset folder's path.

    Raises:
        PresetError: ``folder`` exists and is not empty, or ``model`` is not a
            registered family's model.

    Example:
        >>> save_to_preset(gan, "my-preset", metrics={"fid10k": 12.3})
        >>> gan2 = kerasgan.zoo.from_preset("my-preset")
    """
    from kerasgan.zoo.api import load_packable, pack

    folder = os.path.abspath(os.fspath(folder))
    if os.path.exists(folder) and not (os.path.isdir(folder) and not os.listdir(folder)):
        raise PresetError(f"{folder} exists and is not an empty folder: save a preset into a "
                          "new (or empty) folder; nothing was written")
    gan = load_packable(model) if isinstance(model, (str, os.PathLike)) else model
    family = _registered_family(gan)
    metrics = _read_json_arg(metrics, "metrics")
    parent = os.path.dirname(folder)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(folder)}.tmp-")
    try:
        # pack writes STAGING/preset/generator.weights.h5 (+ vocabulary.json)
        files = pack(gan, "preset", out_dir=staging)
        out = os.path.join(staging, "preset")
        config = {k: v for k, v in gan.get_config().items()
                  if k != "seed" and not (k == "vocabulary" and "vocabulary" in files)}
        _write_json(os.path.join(out, CONFIG), {"format": FORMAT, "family": family,
                                                "config": config})
        with open(os.path.join(out, CARD), "w", encoding="utf-8") as f:
            f.write(_card_text(card, family, config, metrics))
        _write_json(os.path.join(out, METADATA), _metadata(gan, out, metrics))
        os.rename(out, folder)  # onto an absent or empty folder: atomic
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def _registered_family(gan):
    """The family name of ``gan``, whose class must be the registry's for it
    (what :func:`load_preset` builds)."""
    from kerasgan import models

    family = getattr(gan, "family", None)
    if family not in models.names() or models.get_class(family) is not type(gan):
        raise PresetError(f"a {type(gan).__name__} is not a registered family's model: a preset "
                          "is built from the family registry, so save a model of a registered "
                          f"family ({', '.join(models.names())})")
    return family


def _read_json_arg(value, what):
    if isinstance(value, (str, os.PathLike)):
        try:
            with open(value, encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError) as e:
            raise PresetError(f"{what} {os.fspath(value)}: cannot read it as JSON ({e}); pass "
                              "a dict or the path of a JSON file") from None
    return value


def _write_json(path, data):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True, ensure_ascii=False)
        f.write("\n")


def _card_text(card, family, config, metrics):
    if card is not None:
        if isinstance(card, os.PathLike) or (isinstance(card, str) and "\n" not in card
                                             and os.path.isfile(card)):
            with open(card, encoding="utf-8") as f:
                return f.read()
        return str(card)
    lines = [f"# A kerasgan preset: {family}", "",
             "Load it with `kerasgan.zoo.from_preset(FOLDER_OR_HANDLE)`, where the handle is "
             "a local folder, `hf://owner/name` or `kaggle://owner/model/framework/variation`; "
             "every file is checked against the sha256 in `metadata.json` before it is read.",
             "", f"config: `{json.dumps(config, sort_keys=True)}`"]
    if metrics:
        lines += ["", f"metrics: `{json.dumps(metrics, sort_keys=True)}`"]
    return "\n".join(lines) + "\n"


def _metadata(gan, folder, metrics):
    import keras
    import tensorflow as tf

    from kerasgan.version import __version__

    networks = gan.zoo_networks() if hasattr(gan, "zoo_networks") else gan.generator
    metadata = {
        "format": FORMAT,
        "versions": {"kerasgan": __version__, "keras": keras.__version__,
                     "tensorflow": tf.__version__, "python": platform.python_version()},
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "parameters": int(networks.count_params()),
        "files": {name: {"sha256": file_sha256(os.path.join(folder, name)),
                         "size": os.path.getsize(os.path.join(folder, name))}
                  for name in sorted(os.listdir(folder)) if name != METADATA},
    }
    if metrics is not None:
        metadata["metrics"] = metrics
    return metadata


# ------------------------------------------------------------------ loading
def is_preset_handle(name):
    """Whether ``name`` names a preset (a handle or a folder) rather than a
    built-in zoo entry."""
    name = os.fspath(name) if isinstance(name, os.PathLike) else name
    if not isinstance(name, str):
        return False
    return name.startswith(("hf://", "kaggle://")) or os.path.isdir(os.path.expanduser(name))


def load_preset(handle, cls=None, progress=True):
    """The model of a preset: a local folder, ``hf://owner/name[@revision]`` or
    ``kaggle://owner/model/framework/variation[/version]``, verified file by
    file before anything is read.

    Args:
        handle: the preset's folder or handle.
        cls: when given, the model must be of this class (or a subclass).
        progress: show the built-in zoo's progress (remote clients show their own).

    Returns:
        The model (its discriminator freshly initialised; generator and EMA
        copy pretrained).

    Raises:
        PresetError: a bad handle, a missing client library (the message names
            the pip extra), or a folder that fails verification (the message
            names the file).
    """
    del progress  # the remote clients show their own progress bars
    folder, where = _fetch(os.fspath(handle))
    files = verify_preset(folder, where)
    try:
        with open(os.path.join(folder, CONFIG), encoding="utf-8") as f:
            spec = json.load(f)
    except ValueError as e:
        raise PresetError(f"{where}: {CONFIG} is not JSON ({e}); re-save the preset") from None
    if not isinstance(spec, dict) or spec.get("format") != FORMAT or \
            not isinstance(spec.get("family"), str) or not isinstance(spec.get("config"), dict):
        raise PresetError(f"{where}: {CONFIG} is not a {FORMAT} config (format, family, "
                          "config); re-save it with kerasgan.zoo.save_to_preset")
    vocabulary = os.path.join(folder, VOCABULARY) if VOCABULARY in files else None
    return build_model(spec["family"], spec["config"], os.path.join(folder, WEIGHTS),
                       vocabulary=vocabulary, cls=cls, what=f"preset {where}")


def build_model(family, config, weights, vocabulary=None, cls=None, what="preset"):
    """A model of ``family`` built with ``config`` (constructor arguments, data
    only), its generator weights loaded from the verified file ``weights`` and
    copied into the EMA networks; a token-sequence model's vocabulary (the
    verified JSON file ``vocabulary``) goes into its config.

    The one build path of the zoo's entries and of presets."""
    from kerasgan import models

    if family not in models.names():
        raise PresetError(f"{what}: unknown family {family!r}; this kerasgan knows "
                          f"{', '.join(models.names())} (upgrade kerasgan?)")
    family_cls = models.get_class(family)
    if cls is not None and not issubclass(family_cls, cls):
        raise ValueError(f"{what} is a {family} model, not a {cls.__name__}")
    config = dict(config)
    if vocabulary is not None:
        from kerasgan.vocabulary import Vocabulary

        config["vocabulary"] = Vocabulary.load(vocabulary).to_json()
    try:
        gan = family_cls(**config)
    except TypeError as e:
        raise PresetError(f"{what}: its config does not fit {family_cls.__name__} ({e}); was "
                          "it saved by another kerasgan version?") from None
    gan.zoo_networks(ema=False).load_weights(weights)
    for ema, network in gan.ema_pairs():
        if ema is not None:
            ema.set_weights(network.get_weights())
    return gan


def verify_preset(folder, where=None):
    """Checks a preset folder against its ``metadata.json``; returns the listed
    file names.

    Every listed file must have a plain name and exist with the recorded sha256
    and size; the config and weights must be listed; no unlisted model file
    (``.h5``, ``.keras``, ``.pkl`` ...) may lie anywhere in the folder.

    Raises:
        PresetError: one line naming the file and what to do.
    """
    where = where or folder
    redo = "fetch it again from its source, or re-save it with kerasgan.zoo.save_to_preset"
    path = os.path.join(folder, METADATA)
    if not os.path.isfile(path):
        raise PresetError(f"{where}: no {METADATA}, so its files cannot be verified; it is not "
                          f"a kerasgan preset, or it is incomplete: {redo}")
    try:
        with open(path, encoding="utf-8") as f:
            files = json.load(f).get("files")
    except (ValueError, AttributeError) as e:
        raise PresetError(f"{where}: {METADATA} is not a preset's metadata ({e}): {redo}") from None
    if not isinstance(files, dict):
        raise PresetError(f"{where}: {METADATA} lists no files: {redo}")
    for name in (CONFIG, WEIGHTS):
        if name not in files:
            raise PresetError(f"{where}: {METADATA} does not list {name}: {redo}")
    for name, record in sorted(files.items()):
        if not _PLAIN_NAME.fullmatch(name) or name == METADATA or ".." in name:
            raise PresetError(f"{where}: {METADATA} lists {name!r}, not a plain file name; the "
                              f"preset is malformed or tampered with: {redo}")
        if not isinstance(record, dict) or not isinstance(record.get("sha256"), str) \
                or not isinstance(record.get("size"), int):
            raise PresetError(f"{where}: {METADATA} has no sha256 and size for {name}: {redo}")
        file_path = os.path.join(folder, name)
        if not os.path.isfile(file_path):
            raise PresetError(f"{where}: {name} is missing (listed in {METADATA}): {redo}")
        size = os.path.getsize(file_path)
        if size != record["size"]:
            raise PresetError(f"{where}: {name} has {size} bytes, {METADATA} records "
                              f"{record['size']}: the file was changed or truncated: {redo}")
        if file_sha256(file_path) != record["sha256"].lower():
            raise PresetError(f"{where}: {name} does not match its sha256 in {METADATA}: the "
                              f"file was changed or corrupted: {redo}")
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            rel = os.path.relpath(os.path.join(root, name), folder).replace(os.sep, "/")
            if rel not in files and name.lower().endswith(MODEL_SUFFIXES):
                raise PresetError(f"{where}: {rel} is not listed in {METADATA}; a preset holds "
                                  "no unlisted model files: remove it, or re-save the preset")
    return sorted(files)


def _fetch(handle):
    """``(local folder, name for messages)`` of a preset handle."""
    if handle.startswith("hf://"):
        return _fetch_hf(handle[len("hf://"):]), handle
    if handle.startswith("kaggle://"):
        return _fetch_kaggle(handle[len("kaggle://"):]), handle
    folder = os.path.expanduser(handle)
    if not os.path.isdir(folder):
        raise PresetError(f"no preset folder {handle}: pass a folder written by "
                          "save_to_preset, an hf://owner/name or kaggle://owner/model/framework/"
                          "variation handle, or a zoo entry name")
    return folder, handle


def _client(module, extra):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise PresetError(f"loading a {extra}:// preset needs {module}: pip install "
                          f"kerasgan[{extra}]") from None


def _fetch_hf(spec):
    repo, _, revision = spec.partition("@")
    if not _HF_REPO.fullmatch(repo) or ".." in repo or (spec.count("@") and not revision):
        raise PresetError(f"hf://{spec}: not a Hugging Face handle; use hf://owner/name or "
                          "hf://owner/name@revision")
    hub = _client("huggingface_hub", "hf")
    from kerasgan.version import __version__

    try:
        # HF_ENDPOINT is read at each call (huggingface_hub reads it once, at import)
        return hub.snapshot_download(repo, revision=revision or None,
                                     endpoint=os.environ.get("HF_ENDPOINT") or None,
                                     library_name="kerasgan", library_version=__version__)
    except Exception as e:  # the client's errors: network, not found, gated...
        raise PresetError(f"hf://{spec}: could not download it ({type(e).__name__}: "
                          f"{_first_line(e)}); check the handle, the network, or HF_TOKEN for a "
                          "private repository") from None


def _fetch_kaggle(spec):
    parts = spec.split("/")
    if len(parts) not in (4, 5) or not all(_KAGGLE_SLUG.fullmatch(p) for p in parts) or \
            (len(parts) == 5 and not parts[4].isdigit()):
        raise PresetError(f"kaggle://{spec}: not a Kaggle model handle; use "
                          "kaggle://owner/model/framework/variation[/version]")
    hub = _client("kagglehub", "kaggle")
    try:
        return hub.model_download(spec)
    except Exception as e:  # the client's errors: network, not found, credentials...
        raise PresetError(f"kaggle://{spec}: could not download it ({type(e).__name__}: "
                          f"{_first_line(e)}); check the handle, the network, or KAGGLE_USERNAME"
                          "/KAGGLE_KEY for a private model") from None


def _first_line(error):
    text = str(error).strip()
    return text.splitlines()[0] if text else "no message"
