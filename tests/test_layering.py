"""The import order of the package: no module imports a module of a higher layer.

Layers, lowest first (docs: the architecture's "Kinds of family and layers")::

    utils → distribute → layers, losses, penalties, augment → core → models
    → data → callbacks, metrics, export → zoo → run → cli → (package root)

Every module of ``kerasgan/`` is parsed with ``ast`` (no import runs), and
every import is checked: at module level *and* inside functions (a lazy
import is still an arrow). A module may import its own layer or any lower one.

Placement of the modules the order does not name:

- ``utils``, ``version``, ``cache`` (file hashes, the cache folder), ``companion``
  (where the installed data distributions keep their files), ``images``
  (PNG grids, atomic writes, display up-sampling) and ``spec`` (the family spec
  the registry, the data's batch kinds and the command read; TensorFlow-free):
  helpers with no dependency above them, the bottom layer;
- ``precision`` (policies, the loss-scale optimizer) and ``sampling`` (the seed
  rule and input specs, shared by the core, export and the deployment kit):
  beside layers, losses and penalties, which they are peers of;
- ``gan`` (the latent → image kind, ``kerasgan.GAN``): core;
- the package root ``kerasgan/__init__.py`` imports every layer, so it is above
  all: ``import kerasgan`` from inside the package is an arrow to the top (read
  the version from ``kerasgan.version``).
"""

import ast
import os

import pytest

PACKAGE = "kerasgan"
ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), PACKAGE)

#: layers, lowest first: each a set of first components after ``kerasgan.``
LAYERS = [
    ("utils", {"utils", "errors", "cache", "images", "version", "spec", "vocabulary", "cpu",
               "kit", "companion"}),
    ("distribute", {"distribute"}),
    ("layers", {"layers", "losses", "penalties", "augment", "precision", "sampling"}),
    ("core", {"core", "gan"}),
    ("models", {"models"}),
    ("data", {"data"}),
    ("callbacks/metrics/export", {"callbacks", "metrics", "export"}),
    ("zoo", {"zoo"}),
    ("run", {"run"}),
    ("cli", {"cli", "__main__"}),
    ("package root", {""}),
]
_LEVEL = {name: i for i, (_, names) in enumerate(LAYERS) for name in names}

#: Imports that still point up, each with where it is and why; the test
#: passes while they stay listed, and fails when a new one appears (or when a
#: listed one is gone: then delete its line). Entries: (importing module,
#: imported module).
KNOWN_VIOLATIONS = set()


def _modules():
    """``(dotted name, path, is_package)`` of every module under kerasgan/."""
    out = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__pycache__")))
        for f in sorted(files):
            if not f.endswith(".py"):
                continue
            path = os.path.join(folder, f)
            rel = os.path.relpath(path, os.path.dirname(ROOT))[:-3].split(os.sep)
            package = rel[-1] == "__init__"
            if package:
                rel = rel[:-1]
            out.append((".".join(rel), path, package))
    return out


_MODULES = {name for name, _, _ in _modules()}


def _level(module):
    """The layer index of a dotted kerasgan module name."""
    parts = module.split(".")
    return _LEVEL[parts[1] if len(parts) > 1 else ""]


def _resolve(module, package, node):
    """The kerasgan modules an import node names (absolute dotted names)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == PACKAGE]
    if node.level:  # relative: from the importing module's package
        base = module.split(".") if package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if target.split(".")[0] != PACKAGE:
        return []
    # `from kerasgan import models`: the submodule; `from kerasgan import x`: the package
    return [f"{target}.{a.name}" if f"{target}.{a.name}" in _MODULES else target
            for a in node.names]


def _imports():
    """``(importer, imported, path, line)`` for every kerasgan import."""
    found = []
    for module, path, package in _modules():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), filename=path)
        for node in ast.walk(tree):  # every depth: module level and inside functions
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _resolve(module, package, node):
                    found.append((module, target, path, node.lineno))
    return found


def test_every_module_has_a_layer():
    unplaced = sorted(m for m in _MODULES if (m.split(".") + [""])[1] not in _LEVEL)
    assert not unplaced, f"modules with no layer in LAYERS: {unplaced}"


def test_no_import_points_to_a_higher_layer():
    upward, seen = [], set()
    for importer, imported, path, line in _imports():
        if _level(imported) <= _level(importer):
            continue
        seen.add((importer, imported))
        if (importer, imported) in KNOWN_VIOLATIONS:
            continue
        upward.append(f"{os.path.relpath(path, os.path.dirname(ROOT))}:{line}: {importer} "
                      f"({LAYERS[_level(importer)][0]}) imports {imported} "
                      f"({LAYERS[_level(imported)][0]})")
    assert not upward, "imports that point to a higher layer:\n" + "\n".join(upward)
    stale = sorted(KNOWN_VIOLATIONS - seen)
    assert not stale, f"KNOWN_VIOLATIONS entries that no longer occur (delete them): {stale}"


@pytest.mark.parametrize("module", ["kerasgan.core.adversarial", "kerasgan.core.image_to_image",
                                    "kerasgan.gan", "kerasgan.models.pix2pix",
                                    "kerasgan.models.cyclegan", "kerasgan.models.srgan",
                                    "kerasgan.models.stylegan2", "kerasgan.models.progan"])
def test_steps_use_the_step_helpers(module):
    """The training step's tapes and replica context live in core/tf_step.py
    and distribute.py: no family or kind opens a tape or reads the replica
    context itself (penalties.py keeps its input-gradient tapes)."""
    path = os.path.join(os.path.dirname(ROOT), *module.split(".")) + ".py"
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=path)
    direct = sorted({f"{ast.unparse(node)}:{node.lineno}" for node in ast.walk(tree)
                     if isinstance(node, ast.Attribute)
                     and ast.unparse(node) in ("tf.GradientTape", "tf.distribute",
                                               "tf.distribute.get_replica_context", "tf.cond")})
    assert not direct, f"{module} uses TensorFlow's step API directly: {direct}"
