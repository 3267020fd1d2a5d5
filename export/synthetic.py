"""Synthetic datasets: N generated samples streamed to disk, resumable, with a manifest.

numpy and Pillow only (no TensorFlow), shared by the kit's ``generate.py --dataset``
and ``kerasgan generate``. The caller supplies ``make_block(b)``: the samples of
block ``b`` (indices ``b * batch ... b * batch + batch - 1``) as uint8 arrays; this
module encodes and writes them, a bounded number of blocks in flight whatever N is.

The seed rule of a dataset: block ``b`` is drawn from the seed ``[seed, b]``
(``numpy.random.default_rng([seed, b])``, kerasgan's rule for one call of
``generate(batch, seed=[seed, b])``), always for a whole block, so sample ``i`` is
row ``i % batch`` of block ``i // batch`` whatever N is and however many runs wrote
it. ``batch`` is recorded in the manifest; resuming with another one is refused.

Formats (``fmt``):

- ``"folder"``: PNG files ``OUT/<index>.png``; a class-conditional model's in one
  subfolder per class (``OUT/<class>/<index>.png``, class names zero-padded so
  that their sorted order is the class order), the layout
  ``keras.utils.image_dataset_from_directory`` and ``kerasgan.data`` read back; a
  translator's inputs and outputs in ``OUT/inputs/`` and ``OUT/outputs/`` under the
  same names. A "shard" here is a group of ``shard_size`` consecutive files.
- ``"npz"``: ``OUT/shard-00000.npz``... (uncompressed, as ``numpy.savez``) with ``images`` (uint8 NHWC), ``index``
  (int64) and, where they exist, ``labels`` (int64) and ``inputs`` (uint8).
- ``"tfrecord"``: ``OUT/shard-00000.tfrecord``... of ``tf.train.Example`` records
  with ``image`` (PNG bytes), ``index``, ``height``, ``width``, ``channels`` and,
  where they exist, ``label`` and ``input`` (PNG bytes); written by this module
  (the record framing with masked CRC-32C and the Example encoding), read back by
  ``tf.data.TFRecordDataset``.

``OUT/manifest.json`` (rewritten atomically after every shard) holds the
parameters (seed, batch, shard size, format, model hashes, label rule), the counts
(per class too) and each shard's name, first index, count, bytes and sha256 (a
folder shard's sha256 is that of the lines ``<relative path> <file sha256>`` of its
files). Every file is written under a temporary name and renamed, so an
interruption (Ctrl-C, a kill, a full disk) leaves complete files only; running the
same command again verifies the manifest's parameters and goes on after the last
complete shard.
"""

import hashlib
import io
import json
import math
import os
import queue
import shutil
import struct
import sys
import tempfile
import threading
import time
import zipfile

import numpy as np

try:  # as kerasgan.kit.synthetic
    from .onnx_generator import to_uint8, write_atomic
except ImportError:  # the kit folder on its own (its scripts put it on sys.path)
    from onnx_generator import to_uint8, write_atomic

FORMATS = ("folder", "npz", "tfrecord")
MANIFEST = "manifest.json"
MANIFEST_KIND = "kerasgan synthetic dataset"
MANIFEST_VERSION = 1
#: blocks queued between the generating thread and the writing thread
IN_FLIGHT = 2
#: raw bytes per npz / TFRecord shard the default shard size aims at
SHARD_BYTES = 64 * 2**20
#: files per folder "shard" (a hashing group) by default, rounded to whole blocks
FOLDER_SHARD = 1024
#: the parameters that must match for a resume
IDENTITY = ("format", "seed", "batch", "shard_size", "labels", "model", "sample_shape",
            "input_shape", "num_classes", "class_names")


class DatasetError(ValueError):
    """A dataset request that cannot be honoured (one line, nothing written)."""


class Interrupted(RuntimeError):
    """The writing stopped early; the complete shards stay and the same call resumes."""


# ----------------------------------------------------------------- small helpers
def human_bytes(n):
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0
    return f"{n:.1f} PB"


def shard_count(manifest):
    """"1 shard" / "5 shards" of a manifest."""
    k = len(manifest["shards"])
    return f"{k} shard{'' if k == 1 else 's'}"


def png_bytes(image):
    """uint8 ``(H, W, C)`` with C in 1, 3, 4 as PNG bytes."""
    from PIL import Image

    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise DatasetError(f"samples must be uint8 pixels, got {arr.dtype}")
    mode = {1: "L", 3: "RGB", 4: "RGBA"}.get(arr.shape[-1])
    if mode is None:
        raise DatasetError(f"cannot write {arr.shape[-1]}-channel images as PNG")
    buf = io.BytesIO()
    Image.fromarray(arr[..., 0] if mode == "L" else arr, mode).save(buf, format="PNG",
                                                                     compress_level=1)
    return buf.getvalue()


def _sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------- TFRecord
def _crc32c_table():
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data):
    """CRC-32C (Castagnoli) of ``data``, as TFRecord frames use it."""
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked_crc(data):
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord_frame(data):
    """One TFRecord record: length, its masked CRC, the data, its masked CRC."""
    length = struct.pack("<Q", len(data))
    return (length + struct.pack("<I", _masked_crc(length)) + data
            + struct.pack("<I", _masked_crc(data)))


def _varint(value):
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _field(number, payload):
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def tf_example(features):
    """A serialized ``tf.train.Example``: ``{name: bytes | int}`` as a BytesList or
    an Int64List of one value (ints >= 0)."""
    entries = b""
    for name in sorted(features):
        value = features[name]
        if isinstance(value, bytes):
            feature = _field(1, _field(1, value))                 # Feature.bytes_list
        else:
            feature = _field(3, _field(1, _varint(int(value))))   # Feature.int64_list, packed
        entries += _field(1, _field(1, name.encode()) + _field(2, feature))
    return _field(1, entries)                                      # Example.features


# ----------------------------------------------------------------- what to write
def block_maker(model, *, seed, batch, labels=None, num_classes=None, inputs=None,
                diverse=False):
    """``make_block(b)`` for :func:`write_dataset` from a kerasgan GAN or the kit's
    ``OnnxGenerator`` (both have ``generate(n, seed=, labels=, batch_size=)`` and
    ``translate(images, ...)`` with one seed rule).

    Args:
        model: the generator.
        seed: integer >= 0; block ``b`` is ``generate(batch, seed=[seed, b], ...)``.
        batch: samples per block.
        labels: a class-conditional model's label rule: ``"balanced"`` (sample ``i``
            has class ``i % num_classes``, no draws) or one class for all.
        num_classes: the model's classes (with ``labels``).
        inputs: a translator's inputs: an indexable of NHWC images (uint8, or float
            in [-1, 1]), e.g. a memory-mapped ``.npy`` or :class:`ImageFiles`;
            sample ``i`` is the translation of ``inputs[i]``.
        diverse: the translator draws an attribute per input (DRIT): block ``b``'s
            are ``translate(x, n=1, seed=[seed, b])``.
    """
    seed = int(seed)

    def make_block(b):
        lo = b * batch
        if inputs is not None:
            x = np.asarray(inputs[lo:lo + batch])
            pixels = x if x.dtype == np.uint8 else to_uint8(x)
            x = x.astype("float32") / 127.5 - 1.0 if x.dtype == np.uint8 else x.astype("float32")
            if diverse:
                y = model.translate(x, batch_size=batch, n=1, seed=[seed, b])[:, 0]
            else:
                y = model.translate(x, batch_size=batch)
            return {"images": to_uint8(y), "inputs": pixels}
        if labels is None:
            return {"images": to_uint8(model.generate(batch, seed=[seed, b], batch_size=batch))}
        if labels == "balanced":
            y = (lo + np.arange(batch)) % int(num_classes)
        else:
            y = np.full(batch, int(labels))
        images = model.generate(batch, seed=[seed, b], labels=y.astype("int32"), batch_size=batch)
        return {"images": to_uint8(images), "labels": y.astype(np.int64)}

    return make_block


def resolve_request(family, *, n=None, label=None, num_classes=None, inputs=None,
                    translates=False):
    """``(n, label rule)`` of a dataset request, checked before any work: a
    translator needs ``inputs`` (``n`` defaults to all of them, and may not exceed
    them); a generator needs ``n``; a class-conditional one takes ``label``
    ``"balanced"`` (the default) or one class.

    Raises:
        DatasetError: naming the flag (``--n``, ``--label``, ``--inputs``) to fix.
    """
    if translates:
        if inputs is None:
            raise DatasetError(f"{family} translates images: pass --inputs, a .npy of NHWC "
                               "images or a folder of images")
        if label is not None:
            raise DatasetError(f"{family} translates images: drop --label")
        n = len(inputs) if n is None else n
        if n > len(inputs):
            raise DatasetError(f"--n {n:,} but --inputs holds {len(inputs):,} images: drop --n "
                               "or lower it")
        return n, None
    if inputs is not None:
        raise DatasetError(f"{family} does not translate images: drop --inputs")
    if n is None:
        raise DatasetError("pass --n, the number of samples to write")
    if not num_classes:
        if label is not None:
            raise DatasetError(f"{family} is unconditional: drop --label")
        return n, None
    if label in (None, "balanced"):
        return n, "balanced"
    try:
        if isinstance(label, bool):
            raise ValueError
        label = int(label)
    except ValueError:
        raise DatasetError(f"--label must be a class in [0, {num_classes}) or balanced, got "
                           f"{label!r}") from None
    if not 0 <= label < num_classes:
        raise DatasetError(f"--label must be in [0, {num_classes}) or balanced, got {label}")
    return n, label


def translated_shape(model, input_shape, diverse=False):
    """``(H, W, C)`` of a translator's output for inputs of ``input_shape``."""
    probe = np.zeros((1, *input_shape), "float32")
    out = model.translate(probe, n=1, seed=0)[:, 0] if diverse else model.translate(probe)
    return tuple(int(d) for d in out.shape[1:])


class ImageFiles:
    """The image files of a folder (recursively, sorted by path) as an indexable of
    uint8 NHWC arrays, read a slice at a time; all must have one size."""

    EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")

    def __init__(self, folder, channels=None):
        self.files = []
        for root, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            self.files.extend(os.path.join(root, f) for f in sorted(files)
                              if f.lower().endswith(self.EXTENSIONS) and not f.startswith("."))
        if not self.files:
            raise DatasetError(f"no images in {folder}: give a folder of image files or a .npy")
        self.channels = channels
        first = self._read(self.files[0])
        self.shape = first.shape

    def _read(self, path):
        from PIL import Image

        try:
            with Image.open(path) as im:
                mode = {1: "L", 3: "RGB"}.get(self.channels, "L" if im.mode in ("L", "1", "I;16")
                                              else "RGB")
                arr = np.asarray(im.convert(mode))
        except OSError as e:
            raise DatasetError(f"cannot read the image {path}: {e}") from None
        return arr[..., None] if arr.ndim == 2 else arr

    def __len__(self):
        return len(self.files)

    def __getitem__(self, index):
        if not isinstance(index, slice):
            raise TypeError("ImageFiles takes slices")
        out = [self._read(p) for p in self.files[index]]
        for p, arr in zip(self.files[index], out):
            if arr.shape != self.shape:
                raise DatasetError(f"{p} is {arr.shape[1]}x{arr.shape[0]}, the first input is "
                                   f"{self.shape[1]}x{self.shape[0]}: give inputs of one size")
        return np.stack(out)


def open_inputs(path, channels=None):
    """A translator's inputs for a dataset: a ``.npy`` (memory-mapped: read a block
    at a time) or a folder of images."""
    if os.path.isdir(path):
        return ImageFiles(path, channels)
    if not path.lower().endswith(".npy"):
        raise DatasetError(f"--inputs {path}: give a .npy of NHWC images or a folder of images")
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as e:
        raise DatasetError(f"cannot read {path}: {e}") from None
    if arr.ndim != 4:
        raise DatasetError(f"{path} holds an array of shape {arr.shape}: expected NHWC images")
    return arr


# ----------------------------------------------------------------- progress
class Progress:
    """A one-line progress report on stderr: ``\\r``-updated on a terminal, a line
    every 10 s otherwise."""

    def __init__(self, total, done=0, stream=None, enabled=True, what="samples"):
        self.total, self.done, self.what = total, done, what
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.monotonic()
        self.start_done = done
        self.last = 0.0

    def update(self, k, final=False):
        self.done += k
        if not self.enabled:
            return
        now = time.monotonic()
        if not final and now - self.last < (0.5 if self.tty else 10.0):
            return
        self.last = now
        rate = (self.done - self.start_done) / max(now - self.start, 1e-9)
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        eta = (f"{int(left // 3600)}h{int(left % 3600 // 60):02d}m" if left >= 3600 else
               f"{int(left // 60)}m{int(left % 60):02d}s") if math.isfinite(left) else "?"
        width = 24
        filled = int(width * self.done / max(self.total, 1))
        line = (f"[{'#' * filled}{'.' * (width - filled)}] {self.done:,}/{self.total:,} "
                f"{self.what} ({100.0 * self.done / max(self.total, 1):.1f}%), "
                f"{rate:,.0f}/s, {'done' if final else 'ETA ' + eta}")
        if self.tty:
            self.stream.write("\r" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


# ----------------------------------------------------------------- the writer
def default_shard_size(fmt, batch, sample_bytes):
    """Samples per shard: whole blocks, about :data:`SHARD_BYTES` of raw pixels for
    npz / TFRecord, about :data:`FOLDER_SHARD` files for a folder."""
    target = FOLDER_SHARD if fmt == "folder" else max(1, SHARD_BYTES // max(sample_bytes, 1))
    return max(1, round(target / batch)) * batch


def class_folder_names(num_classes, class_names=None):
    """Subfolder names of a class-conditional folder dataset: the class names when
    given (sorting them must keep the class order), else zero-padded indices."""
    if class_names is not None:
        names = [str(c) for c in class_names]
        if len(names) == num_classes and sorted(names) == names and len(set(names)) == len(names) \
                and all(c and os.sep not in c and not c.startswith(".") for c in names):
            return names
    digits = len(str(num_classes - 1))
    return [str(c).zfill(digits) for c in range(num_classes)]


class _Shard:
    """What the writing thread accumulates for one shard."""

    def __init__(self, number, start, count):
        self.number, self.start, self.count = number, start, count
        self.written = 0
        self.lines = []      # folder: "<relative path> <sha256>"
        self.bytes = 0
        self.classes = None  # samples per class, for a class-conditional model


def write_dataset(out, n, make_block, *, fmt="folder", batch=64, shard_size=None,
                  identity=None, sample_shape, input_shape=None, num_classes=None,
                  class_names=None, progress=True, stream=None, verify=False,
                  free_bytes=None):
    """Writes samples ``0 .. n - 1`` to ``out`` (resuming what a manifest there says
    is done) and returns the manifest.

    Args:
        out: the dataset folder (created; must be empty or hold a manifest).
        n: total number of samples, >= 1.
        make_block: ``make_block(b)`` -> dict with ``"images"`` uint8 ``(k, *sample_shape)``,
            and ``"labels"`` (int ``(k,)``) for a class-conditional model,
            ``"inputs"`` uint8 ``(k, *input_shape)`` for a translator; ``k`` is
            ``batch`` (rows past ``n`` are dropped), fewer only for the last block.
        fmt: ``"folder"``, ``"npz"`` or ``"tfrecord"``.
        batch: samples per block (the seed rule's unit; recorded).
        shard_size: samples per shard, a multiple of ``batch`` (None: a default).
        identity: dict recorded in the manifest that a resume must match
            (``seed``, ``labels`` rule, ``model`` hashes, ...), plus free fields
            (``writer``, ``family``) that are recorded only.
        sample_shape, input_shape: ``(H, W, C)`` of a sample and of a translator's input.
        num_classes, class_names: a class-conditional model's classes.
        progress: report progress on ``stream`` (stderr).
        verify: on resume, recompute the sha256 of every complete shard.
        free_bytes: free disk space to check against (None: measured).

    Raises:
        DatasetError: bad arguments, a folder in use by another dataset or other
            files, parameters that differ from the manifest's, or not enough disk
            space at the measured bytes per sample; nothing is written then.
        Interrupted: Ctrl-C (or an error while writing) after some shards; they stay.
    """
    if fmt not in FORMATS:
        raise DatasetError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise DatasetError(f"n must be a positive integer number of samples, got {n!r}")
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise DatasetError(f"batch must be a positive integer, got {batch!r}")
    n, batch = int(n), int(batch)
    sample_shape = tuple(int(d) for d in sample_shape)
    input_shape = None if input_shape is None else tuple(int(d) for d in input_shape)
    sample_raw = int(np.prod(sample_shape)) + (int(np.prod(input_shape)) if input_shape else 0)
    if shard_size is None:
        shard_size = default_shard_size(fmt, batch, sample_raw)
    if isinstance(shard_size, bool) or not isinstance(shard_size, (int, np.integer)) \
            or shard_size < batch or shard_size % batch:
        raise DatasetError(f"shard_size must be a positive multiple of batch ({batch}), got "
                           f"{shard_size!r}")
    shard_size = int(shard_size)
    folders = None
    if num_classes is not None:
        folders = class_folder_names(int(num_classes), class_names)
    params = dict(identity or {})
    params.update({"format": fmt, "batch": batch, "shard_size": shard_size,
                   "sample_shape": list(sample_shape),
                   "input_shape": None if input_shape is None else list(input_shape),
                   "num_classes": None if num_classes is None else int(num_classes),
                   "class_names": folders})
    params.setdefault("seed", None)
    params.setdefault("labels", None)
    params.setdefault("model", None)

    out = os.path.abspath(out)
    manifest = _open_manifest(out, params, n, verify)
    done_shards = manifest["shards"]
    first = sum(s["count"] for s in done_shards)
    if first >= n:
        if first > n:
            raise DatasetError(f"{out} already holds {first:,} samples: pass n >= {first:,} to "
                               "extend it, or another folder")
        _finish(out, manifest, n, progress, stream, first)
        return manifest

    def plan():
        """(shard number, first index, count) of the shards still to write, lazily
        (n may be huge)."""
        for s in range(len(done_shards), math.ceil(n / shard_size)):
            start = s * shard_size
            yield s, start, min(shard_size, n - start)

    head = next(plan())

    # the first block to write is generated before anything touches the disk: its
    # encoded size is the measured bytes per sample of the disk-space check
    first_block = _take(make_block(head[1] // batch), min(batch, head[2]), batch)
    per_sample = _measure(first_block, fmt, out)
    need = per_sample * (n - first) * 1.02 + 65536
    free = free_bytes
    if free is None:
        probe = out
        while not os.path.exists(probe):
            probe = os.path.dirname(probe)
        free = shutil.disk_usage(probe).free
    if need > free:
        raise DatasetError(
            f"n={n:,} needs about {human_bytes(need)} at {human_bytes(per_sample)} a sample "
            f"(measured on {len(first_block['images'])} {fmt} samples) but {out} has "
            f"{human_bytes(free)} free: lower n or write to another disk")

    os.makedirs(out, exist_ok=True)
    _clean_temporaries(out)
    manifest["n"] = n
    manifest["complete"] = False
    manifest["bytes_per_sample"] = round(per_sample, 1)
    _save_manifest(out, manifest)

    bar = Progress(n, first, stream=stream, enabled=progress)
    blocks = queue.Queue(maxsize=IN_FLIGHT)
    failure = []

    def writer():
        try:
            for shard in plan_shards():
                _write_shard(out, shard, fmt, folders, input_shape is not None, blocks, bar)
                record = {"name": _shard_name(fmt, shard.number), "start": shard.start,
                          "count": shard.count, "bytes": shard.bytes, "sha256": shard.sha256}
                if shard.classes is not None:
                    record["classes"] = [int(c) for c in shard.classes]
                manifest["shards"].append(record)
                _save_manifest(out, manifest)
        except BaseException as e:  # noqa: BLE001 (handed to the main thread)
            failure.append(e)
            while True:  # unblock the producer
                try:
                    blocks.get_nowait()
                except queue.Empty:
                    break

    def plan_shards():
        for number, start, count in plan():
            yield _Shard(number, start, count)

    thread = threading.Thread(target=writer, name="dataset-writer", daemon=True)
    thread.start()
    try:
        for number, start, count in plan():
            for b in range(start // batch, math.ceil((start + count) / batch)):
                if failure:
                    break
                k = min(batch, start + count - b * batch)
                block = first_block if first_block is not None else _take(make_block(b), k, batch)
                first_block = None
                while not failure:
                    try:
                        blocks.put(block, timeout=0.2)
                        break
                    except queue.Full:
                        continue
            if failure:
                break
        while thread.is_alive():
            thread.join(0.2)
    except BaseException as e:  # noqa: BLE001 (Ctrl-C, or make_block failed): stop the writer
        failure.insert(0, e)
        while thread.is_alive():  # the shard in progress is abandoned at its next block
            try:
                blocks.put(None, timeout=0.2)
            except queue.Full:
                pass
            thread.join(0.2)
    if failure:
        _clean_temporaries(out)
        written = sum(s["count"] for s in manifest["shards"])
        error = failure[0]
        stopped = isinstance(error, (KeyboardInterrupt, _Stop))
        why = "interrupted" if stopped else f"stopped by {type(error).__name__}: {error}"
        raise Interrupted(f"{why}, with {written:,} of {n:,} samples in complete shards in "
                          f"{out}: run the same command again to go on") from (
            None if stopped else error)
    _finish(out, manifest, n, progress, stream, first, bar)
    return manifest


class _Stop(Exception):
    pass


def _take(block, k, batch):
    """Checks a block and keeps its first ``k`` rows."""
    if not isinstance(block, dict) or "images" not in block:
        raise DatasetError("make_block must return a dict with 'images'")
    out = {}
    for key, value in block.items():
        if value is None:
            continue
        arr = np.asarray(value)
        if len(arr) < k:
            raise DatasetError(f"make_block returned {len(arr)} {key} where {k} were needed")
        out[key] = arr[:k]
    if out["images"].dtype != np.uint8:
        raise DatasetError(f"make_block must return uint8 images, got {out['images'].dtype}")
    return out


def _measure(block, fmt, out):
    """Bytes on disk per sample of ``block`` written in ``fmt``."""
    images = block["images"]
    k = len(images)
    if fmt == "npz":
        raw = sum(np.asarray(v).nbytes for v in block.values()) + 8 * k
        return raw / k
    pngs = [png_bytes(im) for im in images] + [png_bytes(im) for im in block.get("inputs", ())]
    if fmt == "tfrecord":
        return (sum(len(p) for p in pngs) + 120 * k) / k
    probe = out
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    try:
        unit = os.statvfs(probe).f_bsize or 4096
    except (AttributeError, OSError):
        unit = 4096
    return sum(math.ceil(len(p) / unit) * unit for p in pngs) / k


def _shard_name(fmt, number):
    return f"files-{number:05d}" if fmt == "folder" else f"shard-{number:05d}.{fmt}"


def _write_shard(out, shard, fmt, folders, has_inputs, blocks, bar):
    """Consumes blocks from the queue until ``shard`` is complete, writing as they
    come (an npz shard's images stream into its zip member, a translator's inputs
    through a temporary file beside it; a TFRecord shard's records straight to its
    temporary file), then renames the shard into place."""
    target = os.path.join(out, _shard_name(fmt, shard.number))
    temporaries = []
    handles = []

    def temporary(suffix):
        fd, path = tempfile.mkstemp(dir=out, prefix=".tmp-", suffix=suffix)
        os.close(fd)
        temporaries.append(path)
        return path

    try:
        zf = member = inputs_file = stream = None
        small = {"index": [], "labels": []}
        if fmt == "npz":
            zf = zipfile.ZipFile(temporary(".npz"), "w", zipfile.ZIP_STORED, allowZip64=True)
            handles.append(zf)
        elif fmt == "tfrecord":
            stream = open(temporary(".tfrecord"), "wb")
            handles.append(stream)
            digest = hashlib.sha256()
        while shard.written < shard.count:
            block = blocks.get()
            if block is None:
                raise _Stop()
            images = block["images"]
            labels = block.get("labels")
            inputs = block.get("inputs")
            k = len(images)
            first = shard.start + shard.written
            index = np.arange(first, first + k, dtype=np.int64)
            if fmt == "folder":
                _write_pngs(out, shard, folders, has_inputs, index, images, labels, inputs)
            elif fmt == "npz":
                if member is None:
                    member = zf.open("images.npy", "w", force_zip64=True)
                    handles.insert(0, member)
                    _npy_header(member, images.dtype, (shard.count, *images.shape[1:]))
                member.write(np.ascontiguousarray(images).tobytes())
                if inputs is not None:
                    if inputs_file is None:
                        inputs_file = open(temporary(".npy"), "w+b")
                        handles.insert(0, inputs_file)
                        _npy_header(inputs_file, inputs.dtype, (shard.count, *inputs.shape[1:]))
                    inputs_file.write(np.ascontiguousarray(inputs).tobytes())
                small["index"].append(index)
                if labels is not None:
                    small["labels"].append(np.asarray(labels, np.int64))
            else:
                h, w, c = images.shape[1:]
                for j in range(k):
                    feats = {"image": png_bytes(images[j]), "index": int(index[j]),
                             "height": int(h), "width": int(w), "channels": int(c)}
                    if labels is not None:
                        feats["label"] = int(labels[j])
                    if inputs is not None:
                        feats["input"] = png_bytes(inputs[j])
                    frame = tfrecord_frame(tf_example(feats))
                    stream.write(frame)
                    digest.update(frame)
            if labels is not None:
                counts = np.bincount(np.asarray(labels, np.int64), minlength=len(folders or ()))
                shard.classes = counts if shard.classes is None else shard.classes + counts
            shard.written += k
            bar.update(k)
        if fmt == "folder":
            digest = hashlib.sha256()
            for line in shard.lines:
                digest.update(line.encode())
            shard.sha256 = digest.hexdigest()
            return
        if fmt == "npz":
            member.close()
            handles.remove(member)
            if inputs_file is not None:
                inputs_file.seek(0)
                with zf.open("inputs.npy", "w", force_zip64=True) as m:
                    shutil.copyfileobj(inputs_file, m, 1 << 20)
            for key, parts in small.items():
                if parts:
                    with zf.open(f"{key}.npy", "w") as m:
                        np.lib.format.write_array(m, np.concatenate(parts), allow_pickle=False)
            zf.close()
            handles.remove(zf)
            path = zf.filename
            shard.sha256 = _sha256_file(path)
        else:
            stream.close()
            handles.remove(stream)
            path = stream.name
            shard.sha256 = digest.hexdigest()
        shard.bytes = os.path.getsize(path)
        os.chmod(path, 0o644)
        os.replace(path, target)
    finally:
        for h in handles:
            try:
                h.close()
            except Exception:  # noqa: BLE001 (already failing; the temporaries go next)
                pass
        for path in temporaries:
            if os.path.exists(path):
                os.remove(path)


def _npy_header(stream, dtype, shape):
    """The ``.npy`` header of a C-order array of ``dtype`` and ``shape``."""
    np.lib.format.write_array_header_2_0(stream, {
        "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
        "shape": tuple(int(d) for d in shape)})


def _write_pngs(out, shard, folders, has_inputs, index, images, labels, inputs):
    """A folder shard's block: one PNG per sample (and per input), each renamed into place."""
    for j in range(len(images)):
        name = f"{int(index[j]):09d}.png"
        if has_inputs:
            targets = [("outputs", images[j]), ("inputs", inputs[j])]
        elif folders is not None:
            targets = [(folders[int(labels[j])], images[j])]
        else:
            targets = [("", images[j])]
        for sub, pixels in targets:
            data = png_bytes(pixels)
            folder = os.path.join(out, sub) if sub else out
            os.makedirs(folder, exist_ok=True)
            write_atomic(os.path.join(folder, name), data)
            rel = f"{sub}/{name}" if sub else name
            shard.lines.append(f"{rel} {hashlib.sha256(data).hexdigest()}\n")
            shard.bytes += len(data)


def _clean_temporaries(out):
    """Removes ``.tmp-*`` files an interrupted run left (never complete ones)."""
    if not os.path.isdir(out):
        return
    for root, _, files in os.walk(out):
        for f in files:
            if f.startswith(".tmp-"):
                os.remove(os.path.join(root, f))


def _save_manifest(out, manifest):
    manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    manifest["count"] = sum(s["count"] for s in manifest["shards"])
    per_class = [s["classes"] for s in manifest["shards"] if "classes" in s]
    if per_class:
        manifest["classes"] = [int(c) for c in np.sum(per_class, axis=0)]
    write_atomic(os.path.join(out, MANIFEST),
                (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())


def _open_manifest(out, params, n, verify):
    """The manifest to continue: a fresh one for a new folder, the folder's own
    (checked against ``params``, its partial last shard dropped) for a resume."""
    path = os.path.join(out, MANIFEST)
    if not os.path.exists(path):
        if os.path.isdir(out) and any(not f.startswith(".tmp-") for f in os.listdir(out)):
            raise DatasetError(f"{out} is not empty and holds no {MANIFEST}: write the dataset "
                               "to a new or empty folder")
        if os.path.exists(out) and not os.path.isdir(out):
            raise DatasetError(f"{out} is a file: give a folder for the dataset")
        return {"kind": MANIFEST_KIND, "version": MANIFEST_VERSION, "params": params,
                "n": n, "count": 0, "shards": [], "complete": False,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        raise DatasetError(f"{path} cannot be read ({e}): move the folder away or pass "
                           "another one") from None
    if not isinstance(manifest, dict) or manifest.get("kind") != MANIFEST_KIND:
        raise DatasetError(f"{path} is not a kerasgan dataset manifest: pass another folder")
    old = manifest.get("params", {})
    for key in IDENTITY:
        if old.get(key) != params.get(key):
            raise DatasetError(
                f"{out} was written with {key}={_short(old.get(key))}, not "
                f"{_short(params.get(key))}: resume with the same settings, or write to "
                "another folder")
    manifest["params"].update({k: v for k, v in params.items() if k not in IDENTITY})
    shards = manifest.get("shards", [])
    held = sum(s.get("count", 0) for s in shards)
    if held > n:
        raise DatasetError(f"{out} already holds {held:,} samples: pass n >= {held:,} to "
                           "extend it, or another folder")
    shard_size = params["shard_size"]
    keep = []
    for i, s in enumerate(shards):
        expected = min(shard_size, n - i * shard_size) if i * shard_size < n else 0
        if s.get("start") != i * shard_size or s.get("count") != expected:
            break  # a short last shard of a smaller n: written again
        if not _shard_intact(out, params["format"], s, verify, params):
            raise DatasetError(f"{out}: shard {s['name']} is missing or altered: move the folder "
                               "away and write it again, or restore the file")
        keep.append(s)
    manifest["shards"] = keep
    return manifest


def _short(value):
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _shard_intact(out, fmt, shard, verify, params):
    if fmt != "folder":
        path = os.path.join(out, shard["name"])
        if not os.path.isfile(path) or os.path.getsize(path) != shard["bytes"]:
            return False
        return not verify or _sha256_file(path) == shard["sha256"]
    if not verify:
        return True
    digest = hashlib.sha256()
    start, count = shard["start"], shard["count"]
    for i in range(start, start + count):
        name = f"{i:09d}.png"
        for rel in _folder_paths(out, name, params):
            path = os.path.join(out, rel)
            if not os.path.isfile(path):
                return False
            digest.update(f"{rel} {_sha256_file(path)}\n".encode())
    return digest.hexdigest() == shard["sha256"]


def _folder_paths(out, name, params):
    if params.get("input_shape"):
        return [f"outputs/{name}", f"inputs/{name}"]
    if params.get("class_names"):
        return [f"{c}/{name}" for c in params["class_names"]
                if os.path.isfile(os.path.join(out, c, name))][:1] or [f"?/{name}"]
    return [name]


def _finish(out, manifest, n, progress, stream, first, bar=None):
    manifest["n"] = n
    manifest["complete"] = True
    if bar is not None:
        bar.update(0, final=True)
    _save_manifest(out, manifest)
