"""Where kerasgan keeps downloaded and converted files.

``$KERAS_HOME/kerasgan`` when ``KERAS_HOME`` is set, else ``~/.keras/kerasgan``;
``KERASGAN_CACHE`` overrides both.
"""

import hashlib
import os


def cache_dir(*parts, create=True):
    """The cache folder (or a subfolder of it), created when missing."""
    root = os.environ.get("KERASGAN_CACHE")
    if not root:
        keras_home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
        root = os.path.join(keras_home, "kerasgan")
    path = os.path.join(root, *parts)
    if create:
        os.makedirs(path, exist_ok=True)
    return path


def file_sha256(path, chunk=1 << 20):
    """sha256 hex digest of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()
