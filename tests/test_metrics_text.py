"""Text metrics: BLEU, self-BLEU, the quality–diversity plot, and the SeqGAN oracle.

BLEU is checked against numbers worked out by hand and against NLTK's
``sentence_bleu`` (an independent implementation; required in CI); the oracle
against the README's equations written out here and the entropy rate it states.
"""

import math
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from conftest import REPO, SHARED_DATA, require
from kerasgan.metrics import oracle as oracle_lib
from kerasgan.metrics import text
from kerasgan.metrics.oracle import OracleLSTM
from kerasgan.metrics.stats import MetricInputError

ORACLE_NPZ = os.path.join(SHARED_DATA, "seqgan-oracle", "oracle_lstm.npz")
NLTK_REASON = "nltk is not installed: pip install nltk (the test extra has it; CI installs it)"

HYP = "the cat sat on the mat"
REF1 = "the cat is on the mat"
REF2 = "there is a cat on the mat"


# --------------------------------------------------------------------------- BLEU by hand
def test_bleu_hand_computed():
    # hypothesis "the cat sat on the mat" (6 tokens) against
    #   ref1 "the cat is on the mat" (6 tokens), ref2 "there is a cat on the mat" (7 tokens)
    # unigrams: the x2 (at most 2 in ref1), cat, sat (in no reference), on, mat -> p1 = 5/6
    # bigrams:  "the cat" (ref1), "cat sat" (no), "sat on" (no), "on the", "the mat" -> p2 = 3/5
    # trigrams: "the cat sat", "cat sat on", "sat on the" (no), "on the mat" (both) -> p3 = 1/4
    # 4-grams:  "the cat sat on", "cat sat on the", "sat on the mat": none -> 0/3,
    #           method1 smoothing: 0.1/3
    # brevity: the closest reference length is 6 = hypothesis length -> BP = exp(1 - 6/6) = 1
    # BLEU-2 = (5/6 * 3/5)^(1/2) = (1/2)^(1/2) = 0.70711
    # BLEU-3 = (5/6 * 3/5 * 1/4)^(1/3) = (1/8)^(1/3) = 0.5
    # BLEU-4 = (5/6 * 3/5 * 1/4 * 0.1/3)^(1/4) = (1/240)^(1/4) = 0.25407
    scores = text.bleu_scores([HYP], [REF1, REF2], orders=(2, 3, 4))
    assert scores["bleu2"] == pytest.approx(math.sqrt(0.5), abs=1e-12)
    assert scores["bleu3"] == pytest.approx(0.5, abs=1e-12)
    assert scores["bleu4"] == pytest.approx((1 / 240) ** 0.25, abs=1e-12)
    assert text.bleu([HYP], [REF1, REF2], max_n=3) == scores["bleu3"]
    # without smoothing, the zero 4-gram precision makes BLEU-4 zero
    assert text.bleu([HYP], [REF1, REF2], max_n=4, smoothing="none") == 0.0
    assert text.bleu([HYP], [REF1, REF2], max_n=3, smoothing="none") == scores["bleu3"]


def test_bleu_brevity_penalty_and_length_tie():
    # "the cat on the mat" (5 tokens): p1 = 5/5 (the x2, cat, on, mat), p2 = 4/4
    # ("the cat", "cat on" in ref2, "on the", "the mat"); closest reference length 6
    # -> BP = exp(1 - 6/5), BLEU-2 = exp(-0.2) = 0.81873
    assert text.bleu(["the cat on the mat"], [REF1, REF2], max_n=2) == pytest.approx(
        math.exp(-0.2), abs=1e-12)
    # "a b c d e" (5) between references of lengths 4 and 6: a tie goes to the
    # shorter (4), which the hypothesis exceeds -> BP = 1, and every n-gram is in
    # "a b c d e f" -> BLEU-4 = 1 (with 6 it would be exp(1 - 6/5))
    assert text.bleu(["a b c d e"], ["a b c d", "a b c d e f"], max_n=4) == 1.0


def test_bleu_averages_hypotheses_and_zero_cases():
    one = text.bleu([HYP], [REF1, REF2], max_n=2)
    # no unigram in common, and the empty hypothesis: 0 (as NLTK)
    assert text.bleu(["zebra"], [REF1, REF2], max_n=2) == 0.0
    assert text.bleu([""], [REF1, REF2], max_n=2) == 0.0
    assert text.bleu([HYP, "zebra", []], [REF1, REF2], max_n=2) == pytest.approx(one / 3)


def test_identical_sentences_score_one():
    sentences = ["a man rides a horse on the beach"] * 4
    assert text.bleu(sentences, sentences[:1], max_n=5) == 1.0
    assert text.bleu_scores(sentences, sentences) == {f"bleu{n}": 1.0 for n in (2, 3, 4, 5)}
    assert text.self_bleu(sentences) == {f"self_bleu{n}": 1.0 for n in (2, 3, 4, 5)}


def test_token_forms_agree():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 6, (30, 9))
    as_strings = [" ".join(f"w{i}" for i in row) for row in ids]
    as_lists = [[f"w{i}" for i in row] for row in ids]
    a = text.bleu_scores(as_strings[:10], as_strings[10:])
    assert text.bleu_scores(as_lists[:10], as_lists[10:]) == a
    assert text.bleu_scores(ids[:10], ids[10:]) == a  # 2-D id array
    assert text.bleu_scores(list(ids[:10]), tuple(ids[10:])) == a  # 1-D id rows
    assert text.self_bleu(ids) == text.self_bleu(as_strings)


# --------------------------------------------------------------------------- self-BLEU
def test_self_bleu_leaves_the_hypothesis_out():
    # each sentence shares nothing with the other: 0 (it would be 1 against itself)
    assert text.self_bleu(["x y z w", "p q r s"], orders=(2,)) == {"self_bleu2": 0.0}
    # the top count of "a" (3) is only in the hypothesis "a a a b": against
    # "a b c" alone, p1 = 2/4 ("a" clipped to 1, "b"), p2 = 1/3 ("a b"), ref length 3
    # -> BLEU-2 = (1/2 * 1/3)^(1/2); "a b c" against "a a a b": p1 = 2/3, p2 = 1/2,
    # closest length 4 -> BP = exp(1 - 4/3) -> (1/3)^(1/2) exp(-1/3)
    expected = (math.sqrt(1 / 6) + math.sqrt(1 / 3) * math.exp(-1 / 3)) / 2
    assert text.self_bleu(["a a a b", "a b c"], orders=2)["self_bleu2"] == pytest.approx(
        expected, abs=1e-12)


def test_self_bleu_subsample_is_seeded():
    rng = np.random.default_rng(1)
    sentences = rng.integers(0, 8, (40, 7))
    full = text.self_bleu(sentences, orders=(3,))
    assert text.self_bleu(sentences, orders=(3,), max_hypotheses=40) == full
    assert text.self_bleu(sentences, orders=(3,), max_hypotheses=500) == full
    part = text.self_bleu(sentences, orders=(3,), max_hypotheses=10, seed=3)
    assert part == text.self_bleu(sentences, orders=(3,), max_hypotheses=10, seed=3)
    assert part != text.self_bleu(sentences, orders=(3,), max_hypotheses=10, seed=4)


# --------------------------------------------------------------------------- against NLTK
def _random_sentences(rng, count, vocabulary=12, max_len=14):
    words = [f"w{i}" for i in range(vocabulary)]
    return [[words[i] for i in rng.integers(0, vocabulary, rng.integers(0, max_len + 1))]
            for _ in range(count)]


def _nltk_mean(references_for, hypotheses, order):
    bleu_score = require("nltk.translate.bleu_score", NLTK_REASON)
    smooth = bleu_score.SmoothingFunction().method1
    weights = (1.0 / order,) * order
    scores = [bleu_score.sentence_bleu(references_for(i), h, weights, smoothing_function=smooth)
              for i, h in enumerate(hypotheses)]
    return math.fsum(scores) / len(scores)


def test_bleu_matches_nltk():
    # small vocabulary, lengths 0..14: repeated n-grams, length ties, empty
    # sentences and hypotheses shorter than the order all occur
    rng = np.random.default_rng(0)
    references = _random_sentences(rng, 80)
    hypotheses = _random_sentences(rng, 300)
    ours = text.bleu_scores(hypotheses, references)
    for n in (2, 3, 4, 5):
        assert ours[f"bleu{n}"] == pytest.approx(
            _nltk_mean(lambda i: references, hypotheses, n), abs=1e-9)


def test_self_bleu_matches_nltk_loop():
    rng = np.random.default_rng(1)
    sentences = _random_sentences(rng, 50, vocabulary=8, max_len=10)
    sentences += [sentences[0], ["w1", "w1", "w1", "w1", "w1", "w1", "w1", "w1", "w1"]]

    def others(i):
        return sentences[:i] + sentences[i + 1:]

    ours = text.self_bleu(sentences)
    for n in (2, 3, 4, 5):
        assert ours[f"self_bleu{n}"] == pytest.approx(_nltk_mean(others, sentences, n), abs=1e-9)
    # a subsample: the documented draw, each still against all the others
    chosen = np.sort(np.random.default_rng(7).choice(len(sentences), 12, replace=False))
    part = text.self_bleu(sentences, orders=(4,), max_hypotheses=12, seed=7)
    expected = _nltk_mean(lambda i: others(chosen[i]), [sentences[i] for i in chosen], 4)
    assert part["self_bleu4"] == pytest.approx(expected, abs=1e-9)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("call, message", [
    (lambda: text.bleu("the cat", [REF1]), "single string"),
    (lambda: text.bleu([], [REF1]), "at least one hypothesis"),
    (lambda: text.bleu([HYP], []), "at least one reference"),
    (lambda: text.bleu([HYP], [REF1], max_n=0), "max_n"),
    (lambda: text.bleu_scores([HYP], [REF1], orders=()), "at least one"),
    (lambda: text.bleu_scores([HYP], [REF1], orders=(2, 1.5)), "order"),
    (lambda: text.bleu([HYP], [REF1], smoothing="method7"), "smoothing"),
    (lambda: text.bleu([HYP, 3], [REF1]), r"hypotheses\[1\]"),
    (lambda: text.self_bleu([HYP]), "at least 2 sentences"),
    (lambda: text.self_bleu([HYP, REF1], max_hypotheses=0), "max_hypotheses"),
])
def test_bad_text_input(call, message):
    with pytest.raises(MetricInputError, match=message):
        call()


# --------------------------------------------------------------------------- plot
def _rows():
    rows = []
    for family, shift in (("mle", 0.0), ("seqgan", 0.02)):
        for t in (1.0, 0.7, 1.3):
            rows.append({"family": family, "temperature": t, "bleu4": 0.3 + shift - 0.1 * (t - 1),
                         "self_bleu4": 0.4 - 0.2 * (t - 1), "nll_oracle": 9 * t, "nll_test": 7 / t})
    return rows


def test_quality_diversity_plot(tmp_path):
    path = tmp_path / "plots" / "qd.png"
    assert text.quality_diversity_plot(_rows(), path) == str(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    other = tmp_path / "nll.png"
    text.quality_diversity_plot(_rows(), other, x="nll_test", y="nll_oracle", title="oracle")
    assert other.stat().st_size > 1000
    assert sorted(os.listdir(tmp_path / "plots")) == ["qd.png"]  # no temporary left behind


def test_quality_diversity_plot_bad_rows(tmp_path):
    with pytest.raises(MetricInputError, match="at least one row"):
        text.quality_diversity_plot([], tmp_path / "a.png")
    with pytest.raises(MetricInputError, match=r"rows\[0\] lacks self_bleu4"):
        text.quality_diversity_plot([{"family": "mle", "temperature": 1, "bleu4": 0.3}],
                                    tmp_path / "a.png")
    with pytest.raises(MetricInputError, match="finite number"):
        text.quality_diversity_plot([{"family": "mle", "temperature": 1, "bleu4": float("nan"),
                                      "self_bleu4": 0.2}], tmp_path / "a.png")
    assert not os.listdir(tmp_path)


# --------------------------------------------------------------------------- oracle
def _tiny_arrays(vocabulary=7, embedding=3, hidden=4, seed=0):
    rng = np.random.default_rng(seed)
    shapes = {"V": vocabulary, "E": embedding, "H": hidden}
    return {k: rng.standard_normal(tuple(shapes[d] for d in dims)).astype(np.float32)
            for k, dims in oracle_lib.KEYS.items()}


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _readme_nll(arrays, sequences, start=0):
    """The README's equations, float64, one token at a time."""
    a = {k: v.astype(np.float64) for k, v in arrays.items()}
    out = []
    for seq in sequences:
        h = c = np.zeros(a["Wi"].shape[1])
        token, total = start, 0.0
        for nxt in seq:
            x = a["embedding"][token]
            i = _sigmoid(x @ a["Wi"] + h @ a["Ui"] + a["bi"])
            f = _sigmoid(x @ a["Wf"] + h @ a["Uf"] + a["bf"])
            o = _sigmoid(x @ a["Wo_gate"] + h @ a["Uo_gate"] + a["bo_gate"])
            c = f * c + i * np.tanh(x @ a["Wc"] + h @ a["Uc"] + a["bc"])
            h = o * np.tanh(c)
            logits = h @ a["W_out"] + a["b_out"]
            total -= logits[nxt] - np.log(np.exp(logits).sum())
            token = nxt
        out.append(total / len(seq))
    return np.array(out)


def test_oracle_matches_the_readme_equations():
    arrays = _tiny_arrays()
    lstm = OracleLSTM(arrays, sequence_length=6)
    ids = lstm.sample(5, seed=0)
    assert ids.dtype == np.int32 and ids.shape == (5, 6)
    assert ids.min() >= 0 and ids.max() < 7
    np.testing.assert_allclose(lstm.nll_per_sequence(ids), _readme_nll(arrays, ids), rtol=1e-5)
    assert lstm.nll(ids) == pytest.approx(_readme_nll(arrays, ids).mean(), rel=1e-5)
    assert oracle_lib.nll_oracle(ids, lstm) == lstm.nll(ids)


def test_oracle_sample_is_seeded():
    lstm = OracleLSTM(_tiny_arrays(vocabulary=50), sequence_length=8)
    a = lstm.sample(40, seed=1)
    assert np.array_equal(a, lstm.sample(40, seed=1, batch_size=7))  # not batch-dependent
    assert np.array_equal(a[:10], lstm.sample(10, seed=1))
    assert not np.array_equal(a, lstm.sample(40, seed=2))
    assert lstm.sample(0, seed=1).shape == (0, 8)


def test_oracle_sampling_follows_its_distribution():
    # first tokens of many samples against the first-step softmax
    lstm = OracleLSTM(_tiny_arrays(vocabulary=5), sequence_length=1)
    ids = lstm.sample(20_000, seed=0)[:, 0]
    logits, _ = lstm.step(np.zeros(1, np.int64), lstm.initial_state(1))
    p = np.exp(logits[0] - logits[0].max())
    p /= p.sum()
    freq = np.bincount(ids, minlength=5) / len(ids)
    np.testing.assert_allclose(freq, p, atol=4 * np.sqrt(p * (1 - p) / len(ids)).max())


def test_oracle_keras_lstm_weights():
    import keras

    arrays = _tiny_arrays(hidden=4)
    lstm = OracleLSTM(arrays, sequence_length=5)
    ids = lstm.sample(3, seed=0)
    inputs = np.concatenate([np.zeros((3, 1), np.int64), ids[:, :-1]], axis=1)
    layer = keras.layers.LSTM(4, return_sequences=True)
    layer.build((None, 5, 3))
    layer.set_weights(lstm.keras_lstm_weights())
    hidden = keras.ops.convert_to_numpy(layer(lstm.embedding[inputs]))
    state = lstm.initial_state(3)
    for t in range(5):
        _, state = lstm.step(inputs[:, t], state)
        np.testing.assert_allclose(hidden[:, t], state[0], atol=1e-5)


def test_oracle_bad_sequences():
    lstm = OracleLSTM(_tiny_arrays(), sequence_length=4)
    with pytest.raises(MetricInputError, match="2-D"):
        lstm.nll(np.zeros(4, np.int64))
    with pytest.raises(MetricInputError, match=r"in \[0, 6\]"):
        lstm.nll(np.full((2, 4), 7))
    with pytest.raises(MetricInputError, match="integer"):
        lstm.nll(np.zeros((2, 4), np.float32))
    with pytest.raises(MetricInputError, match="at least one"):
        lstm.nll(np.zeros((0, 4), np.int64))


def _write_npz(path, arrays):
    np.savez(path, **arrays)
    return str(path)


def _write_npy(path, array):  # an .npy under the .npz name
    with open(path, "wb") as f:
        np.save(f, array)
    return str(path)


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_bytes(b"not an archive at all") and str(p), "not a valid oracle .npz"),
    (lambda p: p.write_bytes(b"PK\x03\x04 truncated") and str(p), "not a valid oracle .npz"),
    (lambda p: _write_npz(p, {k: v for k, v in _tiny_arrays().items() if k != "Uf"}), "lack Uf"),
    (lambda p: _write_npz(p, {**_tiny_arrays(), "b_out": np.zeros(6, np.float32)}),
     r"'b_out' has shape \(6,\), expected \(7,\)"),
    (lambda p: _write_npz(p, {**_tiny_arrays(), "Wc": np.full((3, 4), np.nan, np.float32)}),
     "'Wc' contains NaN"),
    (lambda p: _write_npz(p, {**_tiny_arrays(), "bi": np.zeros(4, np.int32)}), "floating point"),
    (lambda p: _write_npy(p, np.zeros(3)), "single array"),
])
def test_malformed_oracle_file(tmp_path, make, message):
    path = make(tmp_path / "oracle.npz")
    with pytest.raises(ValueError, match=message) as info:
        OracleLSTM.load(path)
    assert "\n" not in str(info.value)


def test_oracle_file_checks(tmp_path):
    path = _write_npz(tmp_path / "oracle.npz", _tiny_arrays())
    assert OracleLSTM.load(path).vocabulary_size == 7
    with pytest.raises(ValueError, match="sha256"):
        OracleLSTM.load(path, sha256=oracle_lib.SEQGAN_ORACLE_SHA256)
    with pytest.raises(FileNotFoundError):
        OracleLSTM.load(tmp_path / "absent.npz")
    with zipfile.ZipFile(tmp_path / "x.npz", "w") as z:  # a zip of something else
        z.writestr("readme.txt", "hello")
    with pytest.raises(ValueError, match="lack embedding"):
        OracleLSTM.load(tmp_path / "x.npz")


def test_seqgan_oracle_entropy_rate():
    path = require(ORACLE_NPZ, "the SeqGAN oracle (../shared/data/seqgan-oracle)")
    lstm = OracleLSTM.load(path, sha256=oracle_lib.SEQGAN_ORACLE_SHA256)
    assert (lstm.vocabulary_size, lstm.embedding_dim, lstm.hidden_dim) == (5000, 32, 32)
    assert (lstm.sequence_length, lstm.start_token) == (20, 0)
    ids = lstm.sample(2000, seed=0)
    assert ids.shape == (2000, 20) and ids.dtype == np.int32
    assert np.array_equal(ids[:50], lstm.sample(50, seed=0))
    # the oracle on its own samples: its entropy rate, 5.752 nats per token (README)
    assert lstm.nll(ids) == pytest.approx(5.752, abs=0.1)
    # uniform random tokens are far less likely under it than log(5000) = 8.52
    uniform = np.random.default_rng(0).integers(0, 5000, (200, 20))
    assert oracle_lib.nll_oracle(uniform, path) > 9.0


# --------------------------------------------------------------------------- no TensorFlow
def test_text_metrics_import_without_tensorflow():
    # ``import kerasgan`` registers every family (TensorFlow), so load the two
    # modules under bare packages to see what they import themselves
    code = (
        "import os, sys, types\n"
        f"root = {os.path.join(REPO, 'kerasgan')!r}\n"
        "for name, path in (('kerasgan', root),\n"
        "                   ('kerasgan.metrics', os.path.join(root, 'metrics'))):\n"
        "    pkg = types.ModuleType(name)\n"
        "    pkg.__path__ = [path]\n"
        "    sys.modules[name] = pkg\n"
        "from kerasgan.metrics import oracle, text\n"
        "bad = sorted({'tensorflow', 'keras', 'matplotlib'} & set(sys.modules))\n"
        "assert not bad, bad\n"
        "assert text.bleu(['a b'], ['a b'], max_n=2) == 1.0\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
