"""Download, verify and cache the files of the model zoo.

A catalog entry lists files, each with a relative path, a sha256 and a size in
bytes, and the entry's published base URL. :func:`fetch` turns one such file
into a verified local file in the cache::

    path = fetch("ENTRY/generator.weights.h5", sha256="…", size=3091509,
                 entry_url="https://github.com/kerasgan/zoo/releases/download/v1/")

Where it looks, in order (see :func:`sources`):

1. ``KERASGAN_ZOO_URL`` when set: an ``https://`` or ``http://`` base URL, a
   ``file://`` URL or a plain local folder (a mirror, an air-gapped copy);
2. the ``zoo/`` folder of a source checkout, when the caller passes one;
3. the installed companion distribution ``kerasgan-zoo-files`` (``pip install
   "kerasgan[zoo]"``, built by ``zoo/build_companions.py``), see
   :mod:`kerasgan.companion`;
4. the entry's published URL.

What it guarantees:

- the content is checked against the catalog's size and sha256 before the file
  reaches its final path, and again every time a cached file is used;
- nothing half-written ever sits at the final path: transfers go to
  ``<cache>/<relpath>.part`` and are moved into place with :func:`os.replace`;
- an interrupted HTTP transfer resumes (``Range: bytes=N-``), within a call
  (up to :data:`RETRIES` retries per source) and across calls (the ``.part``
  of an interrupted transfer is kept; a ``.part`` whose content turned out
  wrong never is);
- two processes fetching the same file serialise on an exclusive
  :func:`fcntl.flock` of ``<cache>/<relpath>.lock``: the second finds the
  verified file and returns it;
- a source that serves other bytes than the catalog's (a wrong size or
  sha256: a lying or stale mirror) is refused with a :class:`ZooMirrorWarning`
  naming it and the file, even when a later source then delivers the right
  file; nothing it sent is kept;
- only ``.keras`` and ``.weights.h5`` files (and ``.json``: a text entry's
  vocabulary, read as data) under plain relative paths are accepted: the zoo
  ships no pickles and nothing that executes on load.

Only the standard library is used, so this module also runs where TensorFlow
is not installed.
"""

import collections
import http.client
import os
import re
import shutil
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings

from kerasgan import cache, companion
from kerasgan.utils import is_int
from kerasgan.zoo.catalog import ALLOWED_SUFFIXES, path_problem  # noqa: F401

try:  # POSIX; elsewhere concurrent fetches of one file are not serialised.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

ENV_VAR = "KERASGAN_ZOO_URL"
COMPANION_ORIGIN = f"installed {companion.ZOO_FILES.distribution}"
INSTALL_HINT = companion.install_hint(companion.ZOO_FILES)
RETRIES = 3  # retries of one source after an interrupted transfer, with resume
RETRY_DELAY = 0.25  # seconds, times the retry number
TIMEOUT = 30.0  # seconds, for connecting and for each read
CHUNK = 1 << 16

_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_URL_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


class ZooDownloadError(RuntimeError):
    """A zoo file could not be fetched or verified.

    The message is one line: the file, the source(s) tried, what went wrong and
    what to do about it.
    """


class ZooMirrorWarning(UserWarning):
    """A source served a zoo file whose size or sha256 is not the catalog's.

    The file was refused (nothing from that source was kept) and the next source
    was tried; the one-line message names the source (origin and location) and
    the file. Emitted even when a later source then delivers the right file: a
    mirror that lies should be fixed or dropped.
    """


Source = collections.namedtuple("Source", ["kind", "location", "origin"])
Source.__doc__ = """One place to fetch zoo files from.

Fields:
    kind: ``"http"`` (``location`` is a base URL ending in ``/``) or
        ``"folder"`` (``location`` is an absolute local folder).
    location: the base URL or folder.
    origin: where it came from: ``"KERASGAN_ZOO_URL"``, ``"checkout"``,
        ``"installed kerasgan-zoo-files"`` or ``"published URL"``.
"""


def _parse_location(value, origin):
    """A :class:`Source` for a URL or folder, or ZooDownloadError for an unknown scheme."""
    match = _URL_SCHEME.match(value)
    if not match:
        return Source("folder", os.path.abspath(os.path.expanduser(value)), origin)
    scheme = match.group(1).lower()
    if scheme in ("http", "https"):
        return Source("http", value if value.endswith("/") else value + "/", origin)
    if scheme == "file":
        parsed = urllib.parse.urlparse(value)
        if parsed.netloc not in ("", "localhost"):
            raise ZooDownloadError(
                f"{origin}={value!r}: file:// URLs must name a local folder (file:///path), "
                f"not host {parsed.netloc!r}; use file:///path/to/zoo or a plain folder path")
        return Source("folder", os.path.abspath(urllib.request.url2pathname(parsed.path)), origin)
    raise ZooDownloadError(
        f"{origin}={value!r}: unknown URL scheme {scheme!r}; use an https:// or http:// "
        f"base URL, a file:// URL or a plain local folder path")


def sources(entry_url=None, checkout_dir=None):
    """The ordered list of places to fetch zoo files from.

    Args:
        entry_url: the catalog entry's published base URL, or None.
        checkout_dir: the ``zoo/`` folder of a source checkout, or None; skipped
            when it does not exist.

    Returns:
        A list of :class:`Source`: ``KERASGAN_ZOO_URL`` (when set), then
        ``checkout_dir``, then the folder of the installed ``kerasgan-zoo-files``
        (when installed), then ``entry_url``, without duplicates.

    Raises:
        ZooDownloadError: ``KERASGAN_ZOO_URL`` or ``entry_url`` has an unknown
            URL scheme (anything but http, https and file).
    """
    found = []
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        found.append(_parse_location(env, ENV_VAR))
    if checkout_dir and os.path.isdir(checkout_dir):
        found.append(Source("folder", os.path.abspath(checkout_dir), "checkout"))
    installed = companion.folder(companion.ZOO_FILES)
    if installed:
        found.append(Source("folder", installed, COMPANION_ORIGIN))
    if entry_url:
        found.append(_parse_location(entry_url, "published URL"))
    unique = []
    for source in found:
        if all((s.kind, s.location) != (source.kind, source.location) for s in unique):
            unique.append(source)
    return unique


def check_relpath(relpath):
    """Raises ZooDownloadError unless ``relpath`` is a plain relative zoo file
    path (the rule of :func:`kerasgan.zoo.catalog.path_problem`)."""
    problem = path_problem(relpath)
    if problem:
        raise ZooDownloadError(f"zoo file path {relpath!r}: refused, {problem}; the catalog "
                               "entry is malformed or tampered with")


def verify(path, sha256, size=None):
    """Whether the file at ``path`` exists and has this sha256 (and size, when given).

    The size is checked first, so a file of the wrong size is not hashed.
    """
    try:
        if size is not None and os.path.getsize(path) != size:
            return False
        return cache.file_sha256(path) == sha256.lower()
    except OSError:
        return False


def cache_path(relpath, cache_root=None):
    """The final path of ``relpath`` in the cache (whether or not it is there yet)."""
    check_relpath(relpath)
    root = cache_root if cache_root is not None else cache.cache_dir("zoo")
    return os.path.join(root, *relpath.split("/"))


# --- internal failure kinds -------------------------------------------------------------

class _SourceFailed(Exception):
    """This source cannot provide the file; try the next one."""


class _Interrupted(Exception):
    """The transfer stopped part way; the .part is kept and can be resumed."""


class _BadContent(Exception):
    """The source sent something else than the catalog's file; the .part is deleted."""


class _LocalError(Exception):
    """Writing to the cache failed (disk full, permissions): no source can help."""


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


class _Progress:
    """A one-line text progress bar on stderr: updated in place on a terminal,
    printed once at the end otherwise."""

    def __init__(self, name, total, enabled):
        self.name, self.total, self.enabled = name, total, enabled
        self.tty = enabled and sys.stderr.isatty()
        self.last = -1.0

    def _line(self, done):
        percent = 100.0 * done / self.total if self.total else 100.0
        return f"{self.name}: {percent:5.1f}%  {done / 1e6:.1f} / {self.total / 1e6:.1f} MB"

    def update(self, done):
        if not self.tty:
            return
        now = time.monotonic()
        if now - self.last >= 0.1 or done >= self.total:
            self.last = now
            sys.stderr.write("\r" + self._line(done))
            sys.stderr.flush()

    def close(self, done):
        if self.enabled:
            sys.stderr.write(("\r" if self.tty else "") + self._line(done) + "\n")
            sys.stderr.flush()


# --- transfers ----------------------------------------------------------------------------

def _copy_from_folder(source, relpath, part, sha256, size):
    src = os.path.join(source.location, *relpath.split("/"))
    if not os.path.isdir(source.location):
        raise _SourceFailed("no such folder; fix the path or unset it")
    if not os.path.isfile(src):
        raise _SourceFailed("the folder does not hold this file")
    actual = os.path.getsize(src)
    if actual != size:
        raise _BadContent(f"size mismatch: expected {size} bytes, the file has {actual}: "
                          f"the folder holds another file")
    # Hash the source before touching the .part, so a wrong file in a folder
    # does not destroy a resumable partial download from another source.
    got = cache.file_sha256(src)
    if got != sha256:
        raise _BadContent(f"sha256 mismatch: expected {sha256}, got {got}: the folder "
                          f"holds another file")
    try:
        with open(src, "rb") as fin, open(part, "wb") as fout:
            shutil.copyfileobj(fin, fout, CHUNK * 16)
    except OSError as e:
        if not os.path.exists(os.path.dirname(part)):
            raise _LocalError(f"writing {part}: {e}")
        _remove(part)
        raise _SourceFailed(f"copy failed: {e}")
    _check_part(part, sha256, size, "the folder changed during the copy")


def _check_part(part, sha256, size, cause):
    actual = os.path.getsize(part)
    if actual != size:
        _remove(part)
        raise _BadContent(f"size mismatch: expected {size} bytes, got {actual}: {cause}")
    got = cache.file_sha256(part)
    if got != sha256:
        _remove(part)
        raise _BadContent(f"sha256 mismatch: expected {sha256}, got {got}: {cause}")


def _part_size(part, size):
    """Bytes already in a .part that can be resumed (0 when none or unusable)."""
    try:
        have = os.path.getsize(part)
    except OSError:
        return 0
    if have >= size:  # complete but unverified, or too long: start again
        _remove(part)
        return 0
    return have


def _http_once(url, part, size, bar):
    """One HTTP request, resuming from the .part when there is one."""
    have = _part_size(part, size)
    request = urllib.request.Request(url, headers={"User-Agent": "kerasgan-zoo",
                                                   "Accept-Encoding": "identity"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:
            _remove(part)
            raise _Interrupted("the server refused to resume (HTTP 416)")
        raise _SourceFailed(f"HTTP {e.code} {e.reason}")
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, (TimeoutError,)):
            raise _SourceFailed(f"timed out after {TIMEOUT:g} s")
        raise _SourceFailed(f"cannot connect: {reason}")
    except (http.client.RemoteDisconnected, ConnectionResetError) as e:
        raise _Interrupted(f"connection closed before the response: {e}")
    except TimeoutError:
        raise _SourceFailed(f"timed out after {TIMEOUT:g} s")
    except (OSError, http.client.HTTPException) as e:
        raise _SourceFailed(f"{type(e).__name__}: {e}")

    with response:
        if response.status == 206 and have:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != have:
                _remove(part)
                raise _Interrupted("the server answered another range than asked")
            if match.group(3) != "*" and int(match.group(3)) != size:
                raise _BadContent(f"size mismatch: expected {size} bytes, the server "
                                  f"announces {match.group(3)}")
            mode = "ab"
        elif response.status == 200:
            have, mode = 0, "wb"  # no resume support: start from zero
        else:
            raise _SourceFailed(f"unexpected HTTP status {response.status}")
        length = response.headers.get("Content-Length")
        if length is not None and length.strip().isdigit() and have + int(length) != size:
            raise _BadContent(f"size mismatch: expected {size} bytes, the server announces "
                              f"{have + int(length)}")
        done = have
        try:
            out = open(part, mode)
        except OSError as e:
            raise _LocalError(f"writing {part}: {e}")
        with out:
            while True:
                try:
                    chunk = response.read(CHUNK)
                except TimeoutError:
                    raise _SourceFailed(f"timed out after {TIMEOUT:g} s, {done} of {size} "
                                        f"bytes received (kept in {part} to resume)")
                except (http.client.HTTPException, OSError) as e:
                    raise _Interrupted(f"connection lost after {done} of {size} bytes "
                                       f"({type(e).__name__})")
                if not chunk:
                    break
                if done + len(chunk) > size:
                    raise _BadContent(f"size mismatch: the server sent more than the "
                                      f"expected {size} bytes")
                try:
                    out.write(chunk)
                except OSError as e:
                    raise _LocalError(f"writing {part}: {e}")
                done += len(chunk)
                bar.update(done)
        if done < size:
            raise _Interrupted(f"connection closed after {done} of {size} bytes")
    return done


def _download_http(source, relpath, part, sha256, size, progress):
    url = source.location + relpath
    bar = _Progress(relpath, size, progress)
    interruptions, restarted = 0, False
    while True:
        resumed = _part_size(part, size) > 0
        try:
            done = _http_once(url, part, size, bar)
            _check_part(part, sha256, size, "the server holds another file")
            bar.close(done)
            return
        except _Interrupted as e:
            interruptions += 1
            if interruptions > RETRIES:
                raise _SourceFailed(f"{e}; gave up after {RETRIES} retries (the partial file "
                                    f"is kept and the next call resumes it)")
            time.sleep(RETRY_DELAY * interruptions)
        except _BadContent:
            _remove(part)
            if resumed and not restarted:  # the earlier partial may be the culprit
                restarted = True
                continue
            raise


# --- locking ------------------------------------------------------------------------------

class _FileLock:
    """An exclusive ``flock`` on a lock file, held for the ``with`` block."""

    def __init__(self, path, name, progress):
        self.path, self.name, self.progress = path, name, progress
        self.fd = None

    def __enter__(self):
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise ZooDownloadError(f"{self.name}: cannot create the lock file {self.path} "
                                   f"({e}); make the cache writable or set KERASGAN_CACHE")
        if fcntl is not None:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if self.progress:
                    sys.stderr.write(f"{self.name}: waiting for another process fetching it\n")
                fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        if fcntl is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


# --- the entry point ----------------------------------------------------------------------

def fetch(relpath, sha256, size, entry_url=None, checkout_dir=None, cache_root=None,
          progress=None):
    """The local path of a verified zoo file, downloading it when needed.

    Args:
        relpath: the file's path relative to the zoo root, e.g.
            ``"ENTRY/generator.weights.h5"`` (see :func:`check_relpath`).
        sha256: the catalog's sha256 of the file (64 hex digits).
        size: the catalog's size of the file in bytes.
        entry_url: the catalog entry's published base URL, or None.
        checkout_dir: the ``zoo/`` folder of a source checkout, or None.
        cache_root: the cache folder; default ``kerasgan.cache.cache_dir("zoo")``.
        progress: show a progress bar on stderr: True always, False never,
            None (default) when stderr is a terminal.

    Returns:
        The path of the file in the cache, whose size and sha256 were checked
        during this call.

    Raises:
        ZooDownloadError: a refused path or hash, an unknown scheme in
            ``KERASGAN_ZOO_URL``, or no source could provide the right file (the
            message names every source tried and its problem).

    Example:
        >>> path = fetch("ENTRY/generator.weights.h5", sha256=digest, size=3091509,
        ...              entry_url="https://github.com/kerasgan/zoo/releases/download/v1/")
    """
    check_relpath(relpath)
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise ZooDownloadError(f"{relpath}: sha256 {sha256!r} is not 64 hex digits; "
                               f"the catalog entry is malformed")
    if not is_int(size) or size < 0:
        raise ZooDownloadError(f"{relpath}: size {size!r} is not a byte count; "
                               f"the catalog entry is malformed")
    sha256 = sha256.lower()
    if progress is None:
        progress = sys.stderr is not None and sys.stderr.isatty()
    final = cache_path(relpath, cache_root)
    if verify(final, sha256, size):  # fast path: no lock, works on a read-only cache
        return final
    candidates = sources(entry_url, checkout_dir)
    try:
        os.makedirs(os.path.dirname(final), exist_ok=True)
    except OSError as e:
        raise ZooDownloadError(f"{relpath}: cannot create the cache folder "
                               f"{os.path.dirname(final)} ({e}); make it writable or set "
                               f"KERASGAN_CACHE")
    with _FileLock(final + ".lock", relpath, progress):
        if os.path.exists(final):
            if verify(final, sha256, size):  # another process fetched it meanwhile
                return final
            _remove(final)  # corrupted or stale: fetch again
        if not candidates:
            raise ZooDownloadError(
                f"{relpath}: no source to fetch it from (no {ENV_VAR}, no checkout folder, "
                f"no installed {companion.ZOO_FILES.distribution}, no published URL); "
                f"install the zoo files with `{INSTALL_HINT}`, or set {ENV_VAR} to a mirror "
                f"URL or a folder holding it")
        part = final + ".part"
        problems = []
        for source in candidates:
            try:
                if source.kind == "folder":
                    _copy_from_folder(source, relpath, part, sha256, size)
                else:
                    _download_http(source, relpath, part, sha256, size, progress)
            except _SourceFailed as e:
                problems.append(f"{source.origin} {source.location}: {e}")
                continue
            except _BadContent as e:
                problems.append(f"{source.origin} {source.location}: {e}; "
                                f"nothing was kept in the cache")
                warnings.warn(
                    f"{relpath}: refused the file served by {source.origin} {source.location} "
                    f"({e}); nothing from it was kept in the cache; "
                    + ("trying the next source" if source is not candidates[-1]
                       else "no source left"),
                    ZooMirrorWarning, stacklevel=2)
                continue
            except _LocalError as e:
                raise ZooDownloadError(f"{relpath}: {e}; free space or fix permissions in "
                                       f"the cache, or set KERASGAN_CACHE") from None
            os.replace(part, final)
            return final
        raise ZooDownloadError(
            f"could not fetch {relpath}: " + "; ".join(problems) +
            f". Check the network, install the zoo files with `{INSTALL_HINT}`, or set "
            f"{ENV_VAR} to a mirror URL or a folder holding this file")


# --- kerasgan.zoo.download is both this module and the function -------------------------
#
# ``kerasgan.zoo`` exports the function ``download(name)`` (kerasgan.zoo.api), but the
# package attribute ``download`` is this submodule as soon as it is imported (Python
# sets it on the package at import), so ``kerasgan.zoo.download(name)`` called
# a module. Calling the module runs the function; ``download.fetch``,
# ``download.ENV_VAR`` and friends stay reachable as module attributes.

class _CallableModule(type(sys)):
    def __call__(self, name, role="generator", progress=True):
        """``kerasgan.zoo.download(name)``: fetch (once) and verify a file of zoo
        entry ``name``; returns its local path (see :func:`kerasgan.zoo.api.download`)."""
        from kerasgan.zoo.api import download

        return download(name, role=role, progress=progress)


sys.modules[__name__].__class__ = _CallableModule
