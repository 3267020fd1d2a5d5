"""The zoo catalog: named pretrained generators, validated against a schema.

The catalog is ``kerasgan/zoo/catalog.json`` (shipped in the package). Each entry:

- ``name``: lowercase letters, digits and ``-`` (no path separators, no ``..``);
- ``family`` (registered) and ``config`` (its constructor arguments);
- ``dataset``: ``{"name", "source", "split", "licence"}``;
- what it generates: ``resolution`` ``[H, W, C]`` (image entries) or
  ``sequence`` ``{"seq_len", "vocab_size"}`` (token-sequence entries), one of them;
- ``files``: ``{"generator": {"path", "sha256", "size"}, ...}``: the generator
  a ``.weights.h5`` or ``.keras`` file (no pickle); a token-sequence entry adds
  ``"vocabulary"``, a ``.json`` file (its tokens, read as data, never run),
  unless its ``config`` holds the vocabulary itself;
- ``metrics``: measured scores, each ``{"metric", "value", "network", "num_gen",
  "num_real", "reference"}`` (the protocol travels with the number; text
  scores add the sampling ``temperature``);
- ``training``: ``{"epochs", "batch_size", "steps", "time_s", "hardware"}``;
- ``licence``, ``paper``, ``recipe`` (the exact commands that reproduce the
  files), ``card`` (the model card in the repository's ``zoo/`` folder), ``url``
  (where the files are published; may be null).

A catalog that fails the schema is refused as a whole.
"""

import json
import os
import re

CATALOG_FORMAT = "kerasgan-zoo/1"
CATALOG_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "catalog.json")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
SEGMENT_RE = re.compile(r"[A-Za-z0-9._-]+")
ALLOWED_SUFFIXES = (".weights.h5", ".keras", ".json")
#: the suffixes each file role may have (other roles: model files only)
MODEL_SUFFIXES = (".weights.h5", ".keras")
ROLE_SUFFIXES = {"vocabulary": (".json",)}


class CatalogError(ValueError):
    """The catalog (or an entry name) is invalid; the message says where."""


def check_name(name):
    """Validates an entry name: lowercase letters, digits and '-', nothing else."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise CatalogError(
            f"invalid zoo entry name {name!r}: use lowercase letters, digits and '-' "
            "(no path separators or '..')"
        )
    return name


def path_problem(path):
    """What is wrong with a zoo file path, or None: the one rule of zoo file
    paths (the catalog's schema and the downloader both apply it).

    A zoo file path is relative: segments of ``[A-Za-z0-9._-]`` separated by
    ``/``, none empty or starting with a dot (so no ``..``, no absolute path,
    no backslash), and a file name ending in ``.weights.h5`` or ``.keras``
    (models) or ``.json`` (a vocabulary, read as data): no pickles, nothing
    that runs code on load.
    """
    if not isinstance(path, str) or not path:
        return "it must be a non-empty string"
    segments = path.split("/")
    bad = [s for s in segments if not SEGMENT_RE.fullmatch(s) or s.startswith(".")]
    if bad:
        return ("it must be relative, made of [A-Za-z0-9._-] segments separated by '/', with "
                f"no '..', no leading '/' or '.', no backslash (bad segment {bad[0]!r})")
    if not segments[-1].endswith(ALLOWED_SUFFIXES):
        return (f"the zoo ships only {', '.join(ALLOWED_SUFFIXES)} files (no pickles, "
                "nothing that runs code on load)")
    return None


def check_file_path(path):
    """Raises CatalogError unless ``path`` follows :func:`path_problem`'s rule."""
    problem = path_problem(path)
    if problem:
        raise CatalogError(f"invalid zoo file path {path!r}: {problem}")
    return path


def _require(obj, key, types, where):
    if key not in obj:
        raise CatalogError(f"{where}: missing {key!r}")
    if not isinstance(obj[key], types) or isinstance(obj[key], bool) and bool not in (
            types if isinstance(types, tuple) else (types,)):
        raise CatalogError(f"{where}: {key!r} must be {getattr(types, '__name__', types)}, "
                           f"got {type(obj[key]).__name__}")
    return obj[key]


def validate_entry(name, entry, families=None):
    """Raises CatalogError when ``entry`` does not follow the schema."""
    where = f"zoo entry {name!r}"
    check_name(name)
    if not isinstance(entry, dict):
        raise CatalogError(f"{where}: must be an object")
    if _require(entry, "name", str, where) != name:
        raise CatalogError(f"{where}: its 'name' is {entry['name']!r}")
    family = _require(entry, "family", str, where)
    if families is not None and family not in families:
        raise CatalogError(f"{where}: unknown family {family!r}")
    config = _require(entry, "config", dict, where)
    dataset = _require(entry, "dataset", dict, where)
    for key in ("name", "source", "split", "licence"):
        _require(dataset, key, str, f"{where} dataset")
    if ("resolution" in entry) == ("sequence" in entry):
        raise CatalogError(f"{where}: give what it generates, either resolution [H, W, C] "
                           "(images) or sequence {seq_len, vocab_size} (token sequences)")
    if "resolution" in entry:
        resolution = _require(entry, "resolution", list, where)
        if len(resolution) != 3 or not all(isinstance(d, int) and not isinstance(d, bool)
                                           and d > 0 for d in resolution):
            raise CatalogError(f"{where}: resolution must be [H, W, C] positive integers")
    files = _require(entry, "files", dict, where)
    if "generator" not in files:
        raise CatalogError(f"{where}: files must include 'generator'")
    if "sequence" in entry:
        _validate_sequence(entry["sequence"], config, files, where)
    elif "vocabulary" in files:
        raise CatalogError(f"{where}: a vocabulary file belongs to a token-sequence entry "
                           "(one with 'sequence')")
    for role, spec in files.items():
        fwhere = f"{where} file {role!r}"
        if not isinstance(spec, dict):
            raise CatalogError(f"{fwhere}: must be an object")
        check_file_path(_require(spec, "path", str, fwhere))
        suffixes = ROLE_SUFFIXES.get(role, MODEL_SUFFIXES)
        if not spec["path"].endswith(suffixes):
            raise CatalogError(f"{fwhere}: invalid zoo file path {spec['path']!r}: a {role} "
                               f"file ends in {' or '.join(suffixes)}")
        if not re.fullmatch(r"[0-9a-f]{64}", _require(spec, "sha256", str, fwhere)):
            raise CatalogError(f"{fwhere}: sha256 must be 64 lowercase hex digits")
        if _require(spec, "size", int, fwhere) <= 0:
            raise CatalogError(f"{fwhere}: size must be positive")
    metrics = _require(entry, "metrics", list, where)
    for i, m in enumerate(metrics):
        mwhere = f"{where} metric {i}"
        if not isinstance(m, dict):
            raise CatalogError(f"{mwhere}: must be an object")
        _require(m, "metric", str, mwhere)
        _require(m, "value", (int, float), mwhere)
        _require(m, "network", str, mwhere)
        _require(m, "num_gen", int, mwhere)
        _require(m, "reference", str, mwhere)
        if "num_real" in m:
            _require(m, "num_real", int, mwhere)
        if "temperature" in m and not (_require(m, "temperature", (int, float), mwhere) > 0):
            raise CatalogError(f"{mwhere}: temperature must be > 0")
    training = _require(entry, "training", dict, where)
    for key, types in (("epochs", int), ("batch_size", int), ("steps", int),
                       ("time_s", (int, float)), ("hardware", str)):
        _require(training, key, types, f"{where} training")
    for key in ("licence", "paper", "recipe", "card"):
        _require(entry, key, str, where)
    if "url" not in entry or not (entry["url"] is None or isinstance(entry["url"], str)):
        raise CatalogError(f"{where}: 'url' must be a string or null")
    unknown = set(entry) - {"name", "family", "config", "dataset", "resolution", "sequence",
                            "files", "metrics", "training", "licence", "paper", "recipe", "card",
                            "url", "description"}
    if unknown:
        raise CatalogError(f"{where}: unknown keys {sorted(unknown)}")
    return entry


def _validate_sequence(sequence, config, files, where):
    """The ``sequence`` of a token-sequence entry: its length and vocabulary
    size, the same as its config's, and a vocabulary (file or config)."""
    if not isinstance(sequence, dict):
        raise CatalogError(f"{where}: sequence must be an object {{seq_len, vocab_size}}")
    for key, least in (("seq_len", 1), ("vocab_size", 2)):
        value = _require(sequence, key, int, f"{where} sequence")
        if value < least:
            raise CatalogError(f"{where}: sequence {key} must be at least {least}, got {value}")
        if key in config and config[key] != value:
            raise CatalogError(f"{where}: sequence {key} is {value} but its config's is "
                               f"{config[key]!r}")
    unknown = set(sequence) - {"seq_len", "vocab_size"}
    if unknown:
        raise CatalogError(f"{where}: unknown sequence keys {sorted(unknown)}")
    if "vocabulary" not in files and not config.get("vocabulary"):
        raise CatalogError(f"{where}: a token-sequence entry needs its vocabulary: a "
                           "'vocabulary' file (or the tokens in its config)")


def validate_catalog(catalog, families=None):
    """Raises CatalogError when ``catalog`` does not follow the schema."""
    if not isinstance(catalog, dict) or catalog.get("format") != CATALOG_FORMAT:
        raise CatalogError(f"the zoo catalog must be an object with format {CATALOG_FORMAT!r}")
    entries = catalog.get("entries")
    if not isinstance(entries, dict):
        raise CatalogError("the zoo catalog has no 'entries' object")
    for name, entry in entries.items():
        validate_entry(name, entry, families)
    return catalog


def load_catalog(path=None, families=None):
    """Reads and validates the catalog (the packaged one by default)."""
    path = path or CATALOG_PATH
    try:
        with open(path) as f:
            catalog = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise CatalogError(f"cannot read the zoo catalog {path}: {e}") from None
    return validate_catalog(catalog, families)
