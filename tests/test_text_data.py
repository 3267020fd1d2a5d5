"""Tests of the token-sequence data: kerasgan.data.text_source, the vocabulary's
round trip, and the ``sequences`` batch kind."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
import tensorflow as tf

from kerasgan.data.batches import batch_kind
from kerasgan.data.errors import DataError
from kerasgan.data.text_source import TokenSequenceSource, open_text_source, read_sentences
from kerasgan.vocabulary import Vocabulary

from conftest import SHARED_DATA, require  # fails instead of skipping under CI=true

CAPTIONS = ["a cat sat on the mat", "a dog ran", "", "the cat ran on a dog", "   ",
            "a mat"]


def write_lines(path, lines, newline="\n"):
    path.write_text(newline.join(lines) + newline, encoding="utf-8")
    return str(path)


@pytest.fixture
def captions(tmp_path):
    return write_lines(tmp_path / "captions.txt", CAPTIONS)


def counting_source(n=23, length=4):
    """Sentence i holds the id i + 4 first (so a batch reveals its order)."""
    vocab = Vocabulary.build([" ".join(f"w{i}" for i in range(n))])
    tokens = np.zeros((n, length), np.int32)
    tokens[:, 0] = np.arange(n) + 4
    tokens[:, 1] = vocab.end_id
    return TokenSequenceSource(tokens, vocab, name="counting")


def firsts(ds):
    return [tuple(b[:, 0].numpy().tolist()) for b in ds]


# ----------------------------------------------------------------------------- encode


def test_text_file_encodes_with_end_and_padding(captions):
    src = open_text_source(captions)
    vocab = src.vocabulary
    assert src.example == "sentence" and src.num_classes is None and src.labels is None
    assert len(src) == 4  # blank lines skipped
    assert src.seq_len == 7  # the longest sentence (6 tokens) + <end>
    assert vocab.tokens[:4] == ["<pad>", "<start>", "<end>", "<unk>"]
    rows = src.arrays()
    assert rows.dtype == np.int32 and rows.shape == (4, 7)
    assert rows[0, -1] == vocab.end_id  # the longest fills the length with its <end>
    dog = rows[1].tolist()
    assert dog == [vocab.id("a"), vocab.id("dog"), vocab.id("ran"), 2, 0, 0, 0]
    assert src.sentences() == [c for c in CAPTIONS if c.strip()]
    assert src.texts == src.sentences() and src.unknown_tokens == 0 and src.truncated == 0
    assert src.name == f"text:{os.path.abspath(captions)}"


def test_seq_len_truncate_and_max_vocab(tmp_path, captions):
    src = open_text_source(captions, seq_len=4, on_long="truncate")
    assert src.seq_len == 4 and src.truncated == 2
    assert src.sentences(0, 1) == ["a cat sat on"]  # cut: no <end>
    assert src.sentences(1, 2) == ["a dog ran"]
    small = open_text_source(captions, max_vocab=6)  # specials + "a", "cat"
    assert len(small.vocabulary) == 6
    assert small.unknown_tokens == sum(
        1 for c in CAPTIONS for t in c.split() if t not in small.vocabulary.tokens)
    assert small.sentences(1, 2) == ["a <unk> <unk>"]
    rare = open_text_source(captions, min_count=2)
    assert "sat" not in rare.vocabulary.tokens and "cat" in rare.vocabulary.tokens


def test_crlf_bom_and_literal_unk(tmp_path):
    path = tmp_path / "win.txt"
    path.write_bytes(b"\xef\xbb\xbfa b\r\n\r\nb <unk> c\r\n")
    src = open_text_source(str(path))
    assert src.sentences() == ["a b", "b <unk> c"] and src.unknown_tokens == 0
    assert read_sentences(str(path)) == [(1, "a b\r"), (3, "b <unk> c\r")]


def test_vocabulary_save_load_round_trip(tmp_path, captions):
    vocab = open_text_source(captions).vocabulary
    path = str(tmp_path / "vocabulary.json")
    vocab.save(path)
    again = Vocabulary.load(path)
    assert again == vocab and again.fingerprint == vocab.fingerprint
    assert Vocabulary.from_json(vocab.to_json()) == vocab
    # a given vocabulary (path, dict or object) is used as is
    for given in (path, vocab.to_json(), vocab):
        src = open_text_source(captions, vocabulary=given)
        assert src.vocabulary == vocab
    numeric = Vocabulary.numeric_ids(7)
    numeric.save(path)
    assert Vocabulary.load(path) == numeric and Vocabulary.load(path).numeric


# ----------------------------------------------------------------------------- pipeline


def test_batches_are_int32_token_ids():
    src = counting_source()
    ds = src.dataset(5, seed=0)
    batch = next(iter(ds))
    assert batch.dtype == tf.int32 and batch.shape == (5, 4)  # one tensor, not a tuple
    assert len(list(ds)) == src.num_batches(5) == 4
    assert len(list(src.dataset(5, seed=0, drop_remainder=False))) == 5
    ordered = np.concatenate([b.numpy() for b in src.dataset(5, shuffle=False, seed=0)])
    assert np.array_equal(ordered, src.arrays(0, 20))


def test_same_seed_and_epoch_same_order():
    src = counting_source()
    a = firsts(src.dataset(5, seed=3, repeat=True, start_epoch=2).take(4))
    b = firsts(src.dataset(5, seed=3, repeat=True, start_epoch=2).take(4))
    c = firsts(src.dataset(5, seed=4, repeat=True, start_epoch=2).take(4))
    d = firsts(src.dataset(5, seed=3, repeat=True, start_epoch=3).take(4))
    assert a == b and a != c and a != d
    # a fresh non-repeating dataset with the same seed and start epoch: the same epoch
    assert firsts(src.dataset(5, seed=3, start_epoch=2)) == firsts(
        src.dataset(5, seed=3, start_epoch=2))
    epoch = [x for batch in a for x in batch]
    assert len(set(epoch)) == 20  # a permutation, without repeats within the epoch


def test_resume_equals_the_tail_of_an_uninterrupted_run():
    src = counting_source()
    steps = src.num_batches(5)
    full = firsts(src.dataset(5, seed=9, repeat=True).take(4 * steps))
    for epoch, step in ((0, 1), (1, 0), (2, 3)):
        resumed = firsts(src.dataset(5, seed=9, repeat=True, start_epoch=epoch,
                                     start_step=step).take(4 * steps - epoch * steps - step))
        assert resumed == full[epoch * steps + step:]


def test_dataset_refuses_labels_flip_and_bad_arguments():
    """The checks every source's ``dataset`` makes (tests/test_data_interface.py)."""
    src = counting_source()
    for bad in (0, -1, 2.5, "8", True):
        with pytest.raises(DataError, match=r"batch_size must be an integer >= 1, got"):
            src.dataset(bad, seed=0)
    with pytest.raises(DataError, match=r"start_epoch must be an integer >= 0, got -1"):
        src.dataset(2, seed=0, start_epoch=-1)
    with pytest.raises(DataError, match="seed must be an integer or None"):
        src.dataset(2, seed="abc")
    with pytest.raises(DataError, match="no class labels"):
        src.dataset(4, labels=True)
    with pytest.raises(DataError, match="cannot be flipped"):
        src.dataset(4, flip=True)
    with pytest.raises(DataError, match="larger than the dataset"):
        src.dataset(100)
    with pytest.raises(DataError, match="start_step"):
        src.dataset(5, start_step=4)


def test_source_checks_ids_against_its_vocabulary():
    vocab = Vocabulary.numeric_ids(5)
    with pytest.raises(DataError, match="token id 5 is not in the vocabulary of 5 tokens"):
        TokenSequenceSource(np.array([[1, 5]]), vocab)
    with pytest.raises(DataError, match="2-D integer array"):
        TokenSequenceSource(np.array([1.0, 2.0]), vocab)


# ----------------------------------------------------------------------------- layouts


def test_folder_of_text_files_in_sorted_order(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    write_lines(folder / "b.txt", ["second file"])
    write_lines(folder / "a.txt", ["first file", "", "one more"])
    (folder / "notes.md").write_text("not read\n")
    src = open_text_source(str(folder))
    assert src.sentences() == ["first file", "one more", "second file"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no .txt files in .*: put text files"):
        open_text_source(str(empty))


def test_train_test_layout_uses_the_train_vocabulary(tmp_path):
    folder = tmp_path / "coco"
    folder.mkdir()
    write_lines(folder / "train.txt", ["a cat sat", "a dog sat down"])
    write_lines(folder / "test.txt", ["a bird sat", "a very very long test sentence here"])
    train = open_text_source(str(folder))
    test = open_text_source(str(folder), split="test")
    assert test.vocabulary == train.vocabulary
    assert "bird" not in test.vocabulary.tokens and test.unknown_tokens == 7
    assert test.sentences(0, 1) == ["a <unk> sat"] and test.texts[0] == "a bird sat"
    assert train.seq_len == 5 and test.seq_len == 8
    fixed = open_text_source(str(folder), split="test", seq_len=train.seq_len,
                             vocabulary=train.vocabulary, on_long="truncate")
    assert fixed.seq_len == 5 and fixed.truncated == 1
    with pytest.raises(DataError, match="has split files test.txt, train.txt but no valid.txt: "
                       "pass --split one of test, train"):
        open_text_source(str(folder), split="valid")


def test_image_coco():
    folder = require(os.path.join(SHARED_DATA, "text", "image_coco"),
                     "the Texygen Image COCO captions")
    train = open_text_source(folder)
    test = open_text_source(folder, split="test", vocabulary=train.vocabulary,
                            seq_len=train.seq_len, on_long="truncate")
    # 10,000 lines each (the last one has no newline), 6,094 distinct tokens, at most 35 a line
    assert len(train) == len(test) == 10000
    assert len(train.vocabulary) == 6094 + 4 and train.seq_len == 36
    assert train.sentences(0, 1) == ["a bicycle replica with a clock as the front wheel."]
    assert test.unknown_tokens > 0 and test.vocabulary == train.vocabulary


def test_npz_of_token_ids(tmp_path):
    ids = np.random.RandomState(0).randint(0, 50, (12, 20))
    path = str(tmp_path / "oracle.npz")
    np.savez(path, tokens=ids, vocab_size=5000)
    src = open_text_source(path)
    assert src.vocabulary == Vocabulary.numeric_ids(5000) and src.seq_len == 20
    assert np.array_equal(src.arrays(), ids) and src.arrays().dtype == np.int32
    assert src.sentences(0, 1) == [" ".join(map(str, ids[0]))]
    single = str(tmp_path / "single.npz")
    np.savez(single, ids=ids.astype(np.uint16))
    assert len(open_text_source(single).vocabulary) == int(ids.max()) + 1
    split = str(tmp_path / "split.npz")
    np.savez(split, tokens_train=ids, tokens_test=ids[:3])
    assert len(open_text_source(split, split="test")) == 3
    assert open_text_source(path, seq_len=10, on_long="truncate").seq_len == 10
    with pytest.raises(DataError, match="sequences of 20 tokens, not seq_len 10.*--truncate"):
        open_text_source(path, seq_len=10)


def test_numeric_text_file_with_a_numeric_vocabulary(tmp_path):
    path = write_lines(tmp_path / "ids.txt", ["0 3 4", "2 2 1"])
    src = open_text_source(path, vocabulary=Vocabulary.numeric_ids(5))
    assert src.seq_len == 3 and src.arrays().tolist() == [[0, 3, 4], [2, 2, 1]]
    bad = write_lines(tmp_path / "bad.txt", ["0 3 4", "2 7 1"])
    with pytest.raises(DataError, match=r"vocabulary mismatch: .*bad.txt: line 2 holds '7'"):
        open_text_source(bad, vocabulary=Vocabulary.numeric_ids(5))


def test_tfds_text_dataset_with_mock_data():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=10):
        src = open_text_source("tfds:lm1b")
        test = open_text_source("tfds:lm1b:test")
    assert len(src) == 10 and src.name == "tfds:lm1b:train"
    assert src.seq_len == max(len(t.split()) for t in src.texts) + 1
    assert test.name == "tfds:lm1b:test" and test.vocabulary == src.vocabulary  # train's
    batch = next(iter(src.dataset(4, seed=0)))
    assert batch.shape == (4, src.seq_len) and batch.dtype == tf.int32


# ----------------------------------------------------------------------------- bad input


def test_missing_path_and_bad_arguments(tmp_path):
    with pytest.raises(DataError, match="data source .*nope.txt' not found: no such file"):
        open_text_source(str(tmp_path / "nope.txt"))
    with pytest.raises(DataError, match="use 'tfds:captions'"):
        open_text_source("captions")
    with pytest.raises(DataError, match="vocabulary file .* not found: pass the vocabulary.json"):
        open_text_source(write_lines(tmp_path / "a.txt", ["a"]), vocabulary=str(tmp_path / "v"))
    with pytest.raises(DataError, match="on_long must be 'error' or 'truncate'"):
        open_text_source(str(tmp_path / "a.txt"), on_long="cut")
    with pytest.raises(DataError, match="--seq-len must be at least 2"):
        open_text_source(str(tmp_path / "a.txt"), seq_len=1)
    with pytest.raises(DataError, match="--max-vocab must be above 4 .the special tokens.*got 3"):
        open_text_source(str(tmp_path / "a.txt"), max_vocab=3)


@pytest.mark.parametrize("content", [b"", b"\n  \n\t\n"])
def test_empty_file(tmp_path, content):
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match="empty.txt has no sentences .*one sentence a line"):
        open_text_source(str(path))


def test_line_longer_than_seq_len(tmp_path):
    path = write_lines(tmp_path / "long.txt", ["a b", "", "a b c d e"])
    with pytest.raises(DataError) as e:
        open_text_source(path, seq_len=4)
    message = str(e.value)
    assert "long.txt: line 3 has 5 tokens, longer than seq_len 4 allows" in message
    assert "raise --seq-len or pass --truncate" in message and "\n" not in message


def test_non_utf8_bytes(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("a b\ncaf\u00e9 au lait\n".encode("latin-1"))
    with pytest.raises(DataError) as e:
        open_text_source(str(path))
    message = str(e.value)
    assert "latin1.txt: line 2 is not UTF-8 (byte 0xe9 at byte 3 of the line, 7 of the file)" \
        in message and "re-encode the file as UTF-8" in message


def test_bad_npz(tmp_path):
    def npz(name, **arrays):
        path = str(tmp_path / name)
        np.savez(path, **arrays)
        return path

    cases = [
        (npz("float.npz", tokens=np.zeros((2, 3), np.float32)), "holds float32 values, not "
         "integer token ids"),
        (npz("none.npz", a=np.zeros((2, 3), int), b=np.zeros(2, int)), "no token array found"),
        (npz("flat.npz", tokens=np.zeros(5, int)), "must be 2-D"),
        (npz("neg.npz", tokens=np.array([[1, 2], [3, -1]])), "sentence 1 holds the negative "
         "id -1"),
        (npz("big.npz", tokens=np.array([[1, 9]]), vocab_size=5), "holds id 9 ≥ vocab_size 5"),
    ]
    for path, message in cases:
        with pytest.raises(DataError, match=message):
            open_text_source(path)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="is not a .npz archive"):
        open_text_source(str(bad))


def test_vocabulary_mismatch(tmp_path):
    path = str(tmp_path / "ids.npz")
    np.savez(path, tokens=np.array([[1, 2, 7]]))
    with pytest.raises(DataError, match="vocabulary mismatch: .* holds id 7, beyond the given "
                       "vocabulary of 6 tokens"):
        open_text_source(path, vocabulary=Vocabulary.numeric_ids(6))
    np.savez(path, tokens=np.array([[1, 2]]), vocab_size=8)
    with pytest.raises(DataError, match="vocab_size 8 but the given vocabulary has 6 tokens"):
        open_text_source(path, vocabulary=Vocabulary.numeric_ids(6))


def test_unknown_tfds_name():
    pytest.importorskip("tensorflow_datasets")
    with pytest.raises(DataError, match="unknown TFDS dataset 'lm1bb'.*tfds.list_builders"):
        open_text_source("tfds:lm1bb")
    with pytest.raises(DataError, match="no dataset name"):
        open_text_source("tfds:")


# ----------------------------------------------------------------------------- batch kind


def test_sequences_batch_kind_round_trip(tmp_path, captions):
    kind = batch_kind("sequences")
    assert [o.name for o in kind.options] == ["seq_len", "max_vocab", "min_count", "truncate",
                                              "vocabulary"]
    # what the command line gives: None for options not set, None for an unset flag
    values = {"seq_len": 5, "max_vocab": None, "min_count": None, "truncate": True,
              "vocabulary": None}
    data = kind.record(captions, "train", values)
    assert data == {"source": captions, "split": "train", "seq_len": 5, "max_vocab": None,
                    "min_count": None, "truncate": True, "vocabulary": None}
    source = kind.open(data, "train")
    assert isinstance(source, TokenSequenceSource) and source.truncated == 2
    arguments = kind.model_arguments(source, data)
    assert arguments == {"vocab_size": len(source.vocabulary), "seq_len": 5,
                         "vocabulary": source.vocabulary.to_json()}
    assert kind.preview(source) is None and kind.dataset_arguments(data) == {}
    # resuming / evaluating with the model's vocabulary: a saved file or its JSON
    vocab_path = str(tmp_path / "vocabulary.json")
    source.vocabulary.save(vocab_path)
    again = kind.open(kind.record(captions, "train", dict(values, vocabulary=vocab_path)), None)
    assert again.vocabulary == source.vocabulary
    assert np.array_equal(again.arrays(), source.arrays())
    assert kind.open(dict(data, vocabulary=arguments["vocabulary"]), "train").vocabulary == \
        source.vocabulary
    defaults = kind.record(captions, "train", {})
    assert defaults["min_count"] == 1 and defaults["truncate"] is False
    assert kind.open(defaults, "train").seq_len == 7
