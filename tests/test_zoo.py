"""The zoo catalog (schema, entries, files, cards), loading entries from the source
checkout, from_preset, name validation and the `kerasgan zoo` command."""

import copy
import json
import os

import numpy as np
import pytest

import kerasgan
from kerasgan import cli, zoo
from kerasgan.cache import file_sha256
from kerasgan.zoo.catalog import CatalogError, validate_catalog

from conftest import HEAVY_FAMILIES, REPO

REQUIRED_ENTRIES = ("dcgan-mnist", "wgangp-mnist", "cgan-mnist", "acgan-mnist", "lsgan-mnist", "mle-coco", "relgan-coco",
                    "infogan-mnist", "sngan-cifar10")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERASGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("KERASGAN_ZOO_URL", raising=False)


def test_catalog_validates_and_every_file_and_card_is_in_the_checkout():
    catalog = zoo.catalog()
    assert set(REQUIRED_ENTRIES) <= set(zoo.list())
    for name in zoo.list():
        entry = zoo.info(name)
        for spec in entry["files"].values():
            path = os.path.join(REPO, "zoo", spec["path"])
            assert os.path.getsize(path) == spec["size"] < 25_000_000  # DRIT ships 8 networks: 21 MB
            assert file_sha256(path) == spec["sha256"]
        card = open(os.path.join(REPO, entry["card"])).read()
        assert entry["recipe"].splitlines()[0] in card  # the card shows the recipe
        for m in entry["metrics"]:
            assert m["metric"] in card
        names = [m["metric"] for m in entry["metrics"]]
        paired = {"psnr", "ssim"} <= set(names) and any(n.startswith("psnr_baseline_")
                                                         for n in names)
        if "resolution" in entry and not paired:  # a text entry carries BLEU (test_zoo_text.py)
            assert any(n.startswith("fid") for n in names)
            if tuple(entry["resolution"]) in ((28, 28, 1), (32, 32, 3)):  # a domain classifier's
                assert any(n.startswith("fd") for n in names)
        if paired:  # an image-to-image entry: scored with its trivial baseline beside it
            assert kerasgan.models.get_class(entry["family"]).spec.image_to_image
        assert kerasgan.models.get_class(entry["family"]).family == entry["family"]
    assert catalog["format"] == "kerasgan-zoo/1"


def test_every_registered_family_has_an_entry():
    families = {zoo.info(name)["family"] for name in zoo.list()}
    missing = sorted(set(kerasgan.models.names()) - families)
    assert not missing, f"families with no zoo entry: {missing}"


@pytest.mark.parametrize("mutate,message", [
    (lambda e: e.pop("recipe"), "missing 'recipe'"),
    (lambda e: e["files"]["generator"].update(path="../evil.weights.h5"), "invalid zoo file path"),
    (lambda e: e["files"]["generator"].update(path="dcgan/model.pkl"), "invalid zoo file path"),
    (lambda e: e["files"]["generator"].update(sha256="abc"), "sha256 must be 64"),
    (lambda e: e["files"]["generator"].update(size=0), "size must be positive"),
    (lambda e: e.update(family="stylegan9"), "unknown family"),
    (lambda e: e.update(extra=1), "unknown keys"),
    (lambda e: e["metrics"].append({"metric": "fid10k"}), "missing 'value'"),
    (lambda e: e.update(resolution=[28, 28]), "resolution"),
])
def test_a_catalog_that_fails_the_schema_is_refused(mutate, message):
    catalog = copy.deepcopy(zoo.catalog())
    mutate(catalog["entries"]["dcgan-mnist"])
    with pytest.raises(CatalogError, match=message):
        validate_catalog(catalog, families=set(kerasgan.models.names()))


@pytest.mark.parametrize("name", ["../etc/passwd", "a/b", "DCGAN", "", "x..y/"])
def test_entry_names_are_validated(name):
    with pytest.raises(CatalogError, match="invalid zoo entry name"):
        zoo.load(name)


def test_unknown_entry_lists_the_known_ones():
    with pytest.raises(CatalogError, match="no zoo entry 'nope'.*dcgan-mnist"):
        zoo.info("nope")


def _image_entries():
    """The image entries; those of the heaviest families (StyleGAN2's builds in
    about 45 s here) in CI's ``-m slow`` pass."""
    names = sorted(n for n in zoo.list() if "resolution" in zoo.info(n))
    return [pytest.param(n, marks=pytest.mark.slow) if zoo.info(n)["family"] in HEAVY_FAMILIES
            else n for n in names]


@pytest.mark.parametrize("name", _image_entries())
def test_load_and_from_preset_from_the_checkout(name, tmp_path):
    """Every image entry (text entries: tests/test_zoo_text.py)."""
    entry = zoo.info(name)
    generator = zoo.load(name, progress=False)
    family = kerasgan.models.get_class(entry["family"])
    if family.spec.image_to_image and family.spec.kind != "encoder_translation":
        return _check_translator(entry, generator)
    assert generator.output_shape[1:] == tuple(entry["resolution"])
    cached = os.path.join(str(tmp_path / "cache"), "zoo", entry["files"]["generator"]["path"])
    assert file_sha256(cached) == entry["files"]["generator"]["sha256"]
    gan = kerasgan.models.get_class(entry["family"]).from_preset(name, progress=False)
    labels = "random" if gan.num_classes else None
    images = gan.generate(8, seed=0, labels=labels)
    assert images.shape == (8, *entry["resolution"]) and np.abs(images).max() <= 1
    inputs = gan.sample_inputs(8, seed=0)
    np.testing.assert_allclose(
        generator.predict_on_batch(inputs if len(inputs) > 1 else inputs[0]), images, atol=1e-5)
    fresh = kerasgan.models.get_class(entry["family"])(**entry["config"])
    if tuple(entry["resolution"]) != (28, 28, 1):
        assert not np.allclose(fresh.generate(8, seed=0, labels=labels), images, atol=0.05)
        return

    # trained, not initial, weights: close to MNIST in the classifier's feature space
    def fd(model):
        return kerasgan.metrics.evaluate(model, ["fd2k_mnist"], data="mnist-10k")["fd2k_mnist"]["value"]

    trained, initial = fd(gan), fd(fresh)
    assert trained < 20 and initial > 5 * trained, (trained, initial)
    if gan.num_classes:  # and they draw the digit asked for
        acc = kerasgan.metrics.evaluate(gan, ["acc1k_mnist"])["acc1k_mnist"]["value"]
        assert acc >= 0.95, acc


def _check_translator(entry, generator):
    """An image-to-image entry: ``translate`` of the preset is the shipped
    generator, at the entry's size, and not what fresh weights give."""
    gan = kerasgan.models.get_class(entry["family"]).from_preset(entry["name"], progress=False)
    inputs = np.random.default_rng(0).uniform(-1, 1, (2, *gan.input_shape_)).astype("float32")
    out = np.asarray(gan.translate(inputs))
    assert out.shape[1:] == tuple(entry["resolution"]) and np.abs(out).max() <= 1
    np.testing.assert_allclose(generator.predict_on_batch(inputs), out, atol=1e-5)
    fresh = kerasgan.models.get_class(entry["family"])(**entry["config"])
    assert not np.allclose(np.asarray(fresh.translate(inputs)), out, atol=0.05)


def test_from_preset_of_another_family_is_refused():
    with pytest.raises(ValueError, match="is a dcgan model, not a WGANGP"):
        kerasgan.models.WGANGP.from_preset("dcgan-mnist", progress=False)


def test_zoo_cli(tmp_path, capsys):
    assert cli.main(["zoo", "list"]) == 0
    listing = capsys.readouterr().out
    assert "dcgan-mnist: dcgan 28x28x1 on MNIST" in listing and "fd10k_mnist" in listing
    assert cli.main(["zoo", "info", "wgangp-mnist"]) == 0
    assert json.loads(capsys.readouterr().out)["family"] == "wgan_gp"
    grid = tmp_path / "grid.png"
    assert cli.main(["zoo", "sample", "dcgan-mnist", "--n", "16", "--out", str(grid)]) == 0
    assert grid.exists()
    assert cli.main(["zoo", "export", "dcgan-mnist", "--format", "onnx", "--out",
                     str(tmp_path / "exp")]) == 0
    meta = kerasgan.export.read_metadata(tmp_path / "exp" / "dcgan-mnist.onnx")
    assert meta["family"] == "dcgan" and meta["dataset"] == "MNIST"
    capsys.readouterr()
    assert cli.main(["zoo", "info", "../x"]) == 2
    assert "invalid zoo entry name" in capsys.readouterr().err


def test_pack_writes_verified_zoo_files(tmp_path):
    run = tmp_path / "run"
    assert cli.main(["train", "dcgan", "--epochs", "1", "--out", str(run), "--width", "4",
                     "--latent-dim", "8", "--batch-size", "512", "--quiet"]) == 0
    files = zoo.pack(str(run), "tiny-dcgan", str(tmp_path / "zoo"))
    spec = files["generator"]
    path = tmp_path / "zoo" / spec["path"]
    assert spec["path"] == "tiny-dcgan/generator.weights.h5"
    assert file_sha256(path) == spec["sha256"] and path.stat().st_size == spec["size"]
    with pytest.raises(CatalogError):
        zoo.pack(str(run), "../x", str(tmp_path / "zoo"))


def test_docs_zoo_table_lists_every_entry_as_the_catalog_says():
    from kerasgan.zoo.entry import TABLE_MARKERS, entries_table

    text = open(os.path.join(REPO, "docs", "zoo.md"), encoding="utf-8").read()
    start, end = TABLE_MARKERS
    table = text.split(start, 1)[1].split(end, 1)[0].strip("\n") + "\n"
    assert table == entries_table(zoo.catalog()), "run python zoo/entries_table.py"
