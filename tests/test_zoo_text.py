"""Text (token-sequence) zoo entries end to end: a tiny `mle` run trained with the
CLI, evaluated (BLEU / self-BLEU), packed with `kerasgan zoo pack --metrics` into a
zoo folder of the test, then loaded back through the zoo's verified loading path
(a catalog of the test, the folder as ``KERASGAN_ZOO_URL``, no network): the
entry samples what the run samples, `kerasgan zoo sample` prints the sentences,
the vocabulary travels in the entry. The last test checks the repository's own
text entries, when it has any."""

import copy
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import kerasgan
from kerasgan import cli, models, zoo
from kerasgan.cache import file_sha256
from kerasgan.run import load_run
from kerasgan.vocabulary import Vocabulary
from kerasgan.zoo import api as zoo_api
from kerasgan.zoo.entry import build_entry
from kerasgan.zoo.catalog import CATALOG_PATH, CatalogError, load_catalog, validate_catalog

from conftest import REPO

CAPTIONS = ["a man rides a horse", "a dog runs on the beach", "two cats sleep on a bed",
            "a man holds a red umbrella", "a bus parked on the street", "a cat on a bed"] * 4
NAME = "tiny-mle"


def _cli(*args, cwd):
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run([sys.executable, "-m", "kerasgan.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    """``(run_dir, zoo_dir)``: a tiny mle run trained by the CLI, evaluated and
    packed as entry ``tiny-mle`` of a zoo folder of its own."""
    root = tmp_path_factory.mktemp("zoo_text")
    (root / "captions.txt").write_text("\n".join(CAPTIONS) + "\n", encoding="utf-8")
    (root / "refs.txt").write_text("a man rides a red horse\na dog on the beach\n",
                                   encoding="utf-8")
    proc = _cli("train", "mle", "--data", "captions.txt", "--epochs", "2", "--batch-size", "8",
                "--embedding-dim", "8", "--hidden-dim", "8", "--out", "run", "--quiet", cwd=root)
    assert proc.returncode == 0, proc.stderr
    catalog_before = file_sha256(CATALOG_PATH)
    cwd = os.getcwd()
    os.chdir(root)  # the commands as a maintainer types them, from the folder above zoo/
    try:
        assert cli.main(["evaluate", "run", "--metrics", "bleu,self_bleu", "--num-gen", "40",
                         "--data", "refs.txt", "--out", "run/metrics.json"]) == 0
        assert cli.main(["zoo", "pack", "run", "--name", NAME, "--out", "zoo", "--metrics",
                         "run/metrics.json", "--train-seconds", "9",
                         "--description", "A tiny test entry."]) == 0
    finally:
        os.chdir(cwd)
    assert file_sha256(CATALOG_PATH) == catalog_before  # the package's catalog is untouched
    return root / "run", root / "zoo"


@pytest.fixture
def packed_zoo(packed, tmp_path, monkeypatch):
    """The zoo pointed at the test's folder: its catalog, files from
    ``KERASGAN_ZOO_URL`` (no checkout, no network), a private cache."""
    _, zoo_dir = packed
    catalog = load_catalog(str(zoo_dir / "catalog.json"), families=set(models.names()))
    monkeypatch.setattr(zoo_api, "_CATALOG", catalog)
    monkeypatch.setattr(zoo_api, "checkout_dir", lambda: None)
    monkeypatch.setenv("KERASGAN_ZOO_URL", str(zoo_dir))
    monkeypatch.setenv("KERASGAN_CACHE", str(tmp_path / "cache"))
    return catalog


@pytest.fixture(scope="module")
def trained(packed):
    return load_run(str(packed[0]))


def test_pack_writes_a_text_entry(packed, trained):
    run, zoo_dir = packed
    entry = json.loads((zoo_dir / "catalog.json").read_text())["entries"][NAME]
    assert entry["family"] == "mle" and "resolution" not in entry
    assert entry["sequence"] == {"seq_len": trained.seq_len, "vocab_size": trained.vocab_size}
    assert "vocabulary" not in entry["config"]  # it travels as a verified file
    for role, relpath in (("generator", f"{NAME}/generator.weights.h5"),
                          ("vocabulary", f"{NAME}/vocabulary.json")):
        spec = entry["files"][role]
        assert spec["path"] == relpath
        assert file_sha256(zoo_dir / relpath) == spec["sha256"]
        assert (zoo_dir / relpath).stat().st_size == spec["size"]
    # the vocabulary round-trips: the file holds the run's tokens
    assert Vocabulary.load(str(zoo_dir / NAME / "vocabulary.json")) == trained.vocabulary
    # samples.txt where an image entry has its grid: 20 sentences, seed 0, temperature 1
    lines = (zoo_dir / NAME / "samples.txt").read_text(encoding="utf-8").split("\n")
    assert lines[-1] == "" and lines[:-1] == trained.generate(20, seed=0).texts
    names = [m["metric"] for m in entry["metrics"]]
    assert names == sorted(f"{m}{n}" for m in ("bleu", "self_bleu") for n in (2, 3, 4, 5))
    scores = json.loads((run / "metrics.json").read_text())["results"]
    for m in entry["metrics"]:
        assert m["value"] == pytest.approx(scores[m["metric"]], abs=1e-6)
        assert m["num_gen"] == 40 and m["temperature"] == 1.0
        if m["metric"].startswith("bleu"):
            assert m["reference"] == "refs.txt" and m["num_real"] == 2
            assert "BLEU-" + m["metric"][-1] in m["network"]
        else:
            assert m["reference"] == "—" and "self-BLEU" in m["network"]
    assert entry["training"]["steps"] == 2 * (len(CAPTIONS) // 8)
    assert entry["training"]["time_s"] == 9
    card = (zoo_dir / NAME / "README.md").read_text(encoding="utf-8")
    recipe = entry["recipe"].splitlines()
    assert recipe[0].startswith("kerasgan train mle --data captions.txt") and recipe[0] in card
    assert recipe[1] == ("kerasgan evaluate run --metrics bleu,self_bleu --num-gen 40 --data "
                         "refs.txt --out run/metrics.json")
    assert recipe[2].startswith(f"kerasgan zoo pack run --name {NAME} --metrics run/metrics.json")
    assert all(f"`{n}`" in card for n in names) and lines[1] in card
    assert "A tiny test entry." in card and "samples.txt" in card


def test_from_preset_samples_what_the_run_samples(packed_zoo, trained, tmp_path):
    gan = models.MLE.from_preset(NAME, progress=False)
    assert type(gan) is models.MLE and gan.vocabulary == trained.vocabulary
    for seed, temperature in ((0, 1.0), (3, 0.7)):
        ours = gan.generate(9, seed=seed, temperature=temperature)
        theirs = trained.generate(9, seed=seed, temperature=temperature)
        np.testing.assert_array_equal(ours.ids, theirs.ids)
        assert ours.texts == theirs.texts
    generator = zoo.load(NAME, progress=False)  # the step network, trained weights
    for a, b in zip(generator.get_weights(), trained.sampling_generator.get_weights()):
        np.testing.assert_array_equal(a, b)
    cached = tmp_path / "cache" / "zoo" / NAME
    assert sorted(p.name for p in cached.iterdir() if not p.name.endswith(".lock")) == [
        "generator.weights.h5", "vocabulary.json"]
    assert zoo.from_preset(NAME, progress=False).generate(4, seed=5).texts == \
        trained.generate(4, seed=5).texts


def test_zoo_sample_prints_the_sentences(packed_zoo, trained, tmp_path, capsys):
    out = tmp_path / "sentences.txt"
    assert cli.main(["zoo", "sample", NAME, "--n", "5", "--seed", "1", "--temperature", "0.8",
                     "--out", str(out)]) == 0
    captured = capsys.readouterr()
    expected = trained.generate(5, seed=1, temperature=0.8).texts
    assert captured.out.split("\n")[:-1] == expected
    assert out.read_text(encoding="utf-8").split("\n")[:-1] == expected
    assert "5 sentences of tiny-mle (seed 1, temperature 0.8)" in captured.err
    # no --out: 20 sentences at temperature 1 printed, nothing written
    assert cli.main(["zoo", "sample", NAME]) == 0
    assert capsys.readouterr().out.split("\n")[:-1] == trained.generate(20, seed=0).texts
    assert not (tmp_path / "grid.png").exists()
    for args, message in (
            (("--out", str(tmp_path / "x.png")), "writes sentences: pass a text file"),
            (("--label", "1"), "--label does not apply to tiny-mle"),
            (("--temperature", "0"), "--temperature must be a number > 0")):
        assert cli.main(["zoo", "sample", NAME, *args]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_zoo_list_info_download_export_of_a_text_entry(packed_zoo, trained, tmp_path, capsys):
    assert cli.main(["zoo", "list"]) == 0
    assert (f"{NAME}: mle sentences of up to {trained.seq_len} tokens ({trained.vocab_size}-token "
            "vocabulary) on captions.txt; bleu2") in capsys.readouterr().out
    assert cli.main(["zoo", "info", NAME]) == 0
    assert json.loads(capsys.readouterr().out)["sequence"]["seq_len"] == trained.seq_len
    assert cli.main(["zoo", "download", NAME]) == 0
    assert [os.path.basename(p) for p in capsys.readouterr().out.split()] == [
        "generator.weights.h5", "vocabulary.json"]
    assert cli.main(["zoo", "export", NAME, "--format", "onnx", "--out",
                     str(tmp_path / "exp")]) == 0
    meta = kerasgan.export.read_metadata(tmp_path / "exp" / f"{NAME}.onnx")
    assert meta["kind"] == "token_sequence" and meta["family"] == "mle"
    assert meta["vocabulary"] == trained.vocabulary.to_json()


def test_pack_without_metrics_and_bad_pack_input(packed, tmp_path, capsys):
    run, zoo_dir = packed
    assert cli.main(["zoo", "pack", str(run), "--name", "files-only",
                     "--out", str(tmp_path / "z")]) == 0
    files = json.loads(capsys.readouterr().out)
    assert sorted(files) == ["generator", "vocabulary"]
    assert not (tmp_path / "z" / "catalog.json").exists()  # files only, as for image runs
    for args, message in (
            (("--paper", "x"), "--paper describe the catalog entry: pass --metrics"),
            (("--metrics", str(run / "metrics.json")), "pass --train-seconds too"),
            (("--metrics", str(tmp_path / "none.json"), "--train-seconds", "1"),
             "none.json does not exist")):
        assert cli.main(["zoo", "pack", str(run), "--name", "x", "--out", str(tmp_path / "z"),
                         *args]) == 2
        assert message in capsys.readouterr().err
    image_scores = tmp_path / "image.json"
    image_scores.write_text(json.dumps({"results": {"fd2k_mnist": {"value": 1.0}}}))
    with pytest.raises(CatalogError, match="does not score a mle run.*bleu,self_bleu"):
        build_entry(str(run), "x", str(image_scores), 1, zoo_dir=str(tmp_path / "z"))
    assert not (tmp_path / "z" / "catalog.json").exists()


TEXT_FAMILIES = [n for n in models.names() if models.get_class(n).spec.kind == "token_sequence"]


@pytest.mark.parametrize("family", TEXT_FAMILIES)
def test_every_text_family_round_trips_through_the_zoo(family, tmp_path, monkeypatch):
    """pack -> catalog entry -> from_preset gives the same sentences, for every
    registered text family (tiny, untrained: the weights and the vocabulary
    are what travels)."""
    cls = models.get_class(family)
    vocab = Vocabulary.build(CAPTIONS)
    config = dict(cls.tiny_config, vocab_size=len(vocab))
    gan = cls(**config, vocabulary=vocab.to_json(), seed=1)
    name = "tiny-" + family.replace("_", "-")
    files = zoo.pack(gan, name, str(tmp_path / "zoo"))
    assert sorted(files) == ["generator", "vocabulary"]
    entry = {"name": name, "family": family, "config": config, "files": files,
             "sequence": {"seq_len": gan.seq_len, "vocab_size": gan.vocab_size},
             "dataset": {"name": "captions", "source": "captions.txt", "split": "train",
                         "licence": "test"},
             "metrics": [], "training": {"epochs": 0, "batch_size": 1, "steps": 0, "time_s": 0,
                                         "hardware": "none"},
             "licence": "test", "paper": "test", "recipe": "none", "card": "none", "url": None}
    catalog = validate_catalog({"format": "kerasgan-zoo/1", "entries": {name: entry}},
                               set(models.names()))
    monkeypatch.setattr(zoo_api, "_CATALOG", catalog)
    monkeypatch.setattr(zoo_api, "checkout_dir", lambda: None)
    monkeypatch.setenv("KERASGAN_ZOO_URL", str(tmp_path / "zoo"))
    monkeypatch.setenv("KERASGAN_CACHE", str(tmp_path / "cache"))
    loaded = cls.from_preset(name, progress=False)
    assert loaded.vocabulary == vocab
    for a, b in zip(loaded.generator.get_weights(), gan.sampling_generator.get_weights(),
                    strict=True):
        np.testing.assert_array_equal(a, b)
    ours, theirs = loaded.generate(6, seed=2, temperature=0.9), gan.generate(6, seed=2,
                                                                              temperature=0.9)
    np.testing.assert_array_equal(ours.ids, theirs.ids)
    assert ours.texts == theirs.texts


def _mutations():
    def drop_vocabulary(e):
        e["files"].pop("vocabulary")

    return [
        (lambda e: e.pop("sequence"), "either resolution"),
        (lambda e: e.update(resolution=[28, 28, 1]), "either resolution"),
        (lambda e: e["sequence"].update(seq_len=0), "seq_len must be at least 1"),
        (lambda e: e["sequence"].update(vocab_size=e["sequence"]["vocab_size"] + 1),
         "but its config's is"),
        (lambda e: e["sequence"].update(extra=1), "unknown sequence keys"),
        (drop_vocabulary, "needs its vocabulary"),
        (lambda e: e["files"]["vocabulary"].update(path="x/vocabulary.weights.h5"),
         "a vocabulary file ends in .json"),
        (lambda e: e["files"]["generator"].update(path="x/generator.json"),
         "a generator file ends in .weights.h5 or .keras"),
        (lambda e: e["files"]["vocabulary"].update(path="../vocabulary.json"),
         "invalid zoo file path"),
        (lambda e: e["metrics"][0].update(temperature=0), "temperature must be > 0"),
        (lambda e: e["metrics"][0].update(num_real="2"), "'num_real' must be int"),
    ]


@pytest.mark.parametrize("mutate,message", _mutations())
def test_a_text_entry_that_fails_the_schema_is_refused(packed, mutate, message):
    catalog = json.loads((packed[1] / "catalog.json").read_text())
    families = set(models.names())
    validate_catalog(copy.deepcopy(catalog), families)  # the packed one passes
    mutate(catalog["entries"][NAME])
    with pytest.raises(CatalogError, match=message):
        validate_catalog(catalog, families)


def test_an_image_entry_takes_no_vocabulary_file(packed):
    catalog = json.loads((packed[1] / "catalog.json").read_text())
    image = copy.deepcopy(zoo.info("dcgan-mnist"))
    image["files"]["vocabulary"] = catalog["entries"][NAME]["files"]["vocabulary"]
    with pytest.raises(CatalogError, match="a vocabulary file belongs to a token-sequence"):
        validate_catalog({"format": "kerasgan-zoo/1", "entries": {"dcgan-mnist": image}},
                         set(models.names()))


def _checkout_text_entries():
    return [n for n in zoo.list() if "sequence" in zoo.info(n)]


@pytest.mark.parametrize("name", _checkout_text_entries())
def test_the_repository_text_entries(name, tmp_path, monkeypatch):
    """Every text entry of the repository's zoo: verified files, the card, the
    BLEU / self-BLEU it carries, and from_preset sampling its samples.txt."""
    monkeypatch.setenv("KERASGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("KERASGAN_ZOO_URL", raising=False)
    entry = zoo.info(name)
    for spec in entry["files"].values():
        path = os.path.join(REPO, "zoo", spec["path"])
        assert os.path.getsize(path) == spec["size"] < 20_000_000
        assert file_sha256(path) == spec["sha256"]
    card = open(os.path.join(REPO, entry["card"]), encoding="utf-8").read()
    assert entry["recipe"].splitlines()[0] in card
    names = {m["metric"] for m in entry["metrics"]}
    assert all(f"`{n}`" in card for n in names)
    assert {"bleu4", "self_bleu4"} <= names or {"nll_oracle", "nll_test"} <= names
    gan = zoo.from_preset(name, progress=False)
    assert gan.family == entry["family"] and gan.seq_len == entry["sequence"]["seq_len"]
    samples = open(os.path.join(REPO, "zoo", name, "samples.txt"), encoding="utf-8").read()
    assert samples.split("\n")[:-1] == gan.generate(20, seed=0).texts
