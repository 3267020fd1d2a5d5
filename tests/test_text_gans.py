"""The token-sequence kind: phases, roll-outs, sampling rule, resume, CLI.

The registry-driven tests (test_gan, test_gradients, test_distribution,
test_precision's XLA check, test_text_export) cover every text family's fit
step, seeded repeat, save/load, mirrored == one device and export parity;
these are the kind's own checks.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import keras

import kerasgan
from kerasgan import models
from kerasgan.core import tf_sequence
from kerasgan.sampling import pick_tokens, sequence_uniforms
from kerasgan.vocabulary import Vocabulary, VocabularyError

from conftest import REPO

TEXT_FAMILIES = [n for n in models.names() if models.get_class(n).spec.kind == "token_sequence"]
CAPTIONS = ["a man rides a horse", "a dog runs on the beach", "two cats sleep on a bed",
            "a man holds a red umbrella", "a bus parked on the street", "a cat on a bed"] * 4


def tiny(name, **overrides):
    cls = models.get_class(name)
    return cls(**dict(cls.tiny_config, **overrides))


def tokens(n=32, vocab=12, length=6, seed=0):
    return np.random.RandomState(seed).randint(0, vocab, (n, length)).astype("int32")


def weights(model):
    return [w.numpy().copy() for w in model.weights]


def test_the_text_families_are_registered():
    assert {"mle", "seqgan", "relgan"} <= set(TEXT_FAMILIES)
    assert models.get_class("seqgan").spec.batch == "sequences"


def test_in_graph_pick_is_the_numpy_rule():
    """The in-graph sampler and the rule generate() and the kit use pick the same tokens."""
    rng = np.random.RandomState(1)
    logits = rng.normal(0, 3, (400, 50)).astype("float32")
    u = rng.uniform(0, 1, 400)
    for temperature in (1.0, 0.5, 2.0):
        graph = tf_sequence.pick(tf.constant(logits), tf.constant(u, tf.float32), temperature)
        np.testing.assert_array_equal(graph.numpy(), pick_tokens(logits, u, temperature))
    # the rule is the inverse CDF: u below the first token's probability picks token 0
    p = np.exp(logits[0] - logits[0].max()); p /= p.sum()
    assert pick_tokens(logits[:1], [p[0] * 0.5])[0] == 0
    assert pick_tokens(logits[:1], [0.999999999])[0] == 49 or p[-1] < 1e-6


def test_sequence_i_does_not_depend_on_n_or_the_batch():
    gan = tiny("mle", seed=0)
    many = gan.generate(20, seed=5, batch_size=7).ids
    few = gan.generate(3, seed=5, batch_size=256).ids
    np.testing.assert_array_equal(many[:3], few)
    np.testing.assert_array_equal(sequence_uniforms(20, 6, 5)[:3], sequence_uniforms(3, 6, 5))


def test_rollouts_keep_every_prefix_and_complete_from_it():
    gan = tiny("seqgan", seed=0)
    seqs = tf.constant(tokens(4))
    u = tf.random.uniform((4, 3, 5, 6), seed=1)
    out = tf_sequence.rollouts(gan.rollout_generator, seqs, u, gan.start_id).numpy()
    assert out.shape == (5, 4, 3, 6)  # (L - 1 prefixes, batch, roll-outs, L)
    for t in range(1, 6):
        np.testing.assert_array_equal(out[t - 1, :, :, :t],
                                      np.repeat(seqs.numpy()[:, None, :t], 3, axis=1))
    # the completions are samples, not copies: roll-outs of the shortest prefix differ
    assert len({tuple(r) for r in out[0].reshape(-1, 6).tolist()}) > 1


def test_seqgan_rewards_are_probabilities_per_token():
    gan = tiny("seqgan", seed=0, rollouts=3)
    q = gan.rewards(tf.constant(tokens(4)), (0, 4, 4)).numpy()
    assert q.shape == (4, 6) and np.all((q > 0) & (q < 1))


def test_phases_follow_the_step_and_resume_inside_the_policy_gradient_is_exact(tmp_path):
    """The phase is a function of the step. SeqGAN's policy gradient updates the generator with its own optimizer
    (pre-training's Adam moments would make its first steps far too large),
    at adversarial_lr; that optimizer's state is saved, so a run cut between
    two adversarial steps resumes to the uninterrupted run's weights."""
    config = dict(pretrain_steps=2, pretrain_d_steps=1, seed=3, adversarial_lr=0.003)
    data = tf.data.Dataset.from_tensor_slices(tokens(48)).batch(8, drop_remainder=True)

    keras.utils.set_random_seed(0)
    straight = tiny("seqgan", **config)
    straight.compile()
    assert straight.pg_optimizer is not straight.g_optimizer
    assert float(straight.pg_optimizer.learning_rate) == pytest.approx(0.003)
    assert float(straight.g_optimizer.learning_rate) == pytest.approx(0.01)
    assert [straight.phase_at(s) for s in range(5)] == ["likelihood", "likelihood", "pretrain_d",
                                                       "adversarial", "adversarial"]
    straight.fit(data, epochs=1, verbose=0)  # 2 likelihood, 1 pretrain_d, 3 adversarial steps
    assert int(straight.steps_done.numpy()) == 6 and straight.phase == "adversarial"
    assert int(straight.g_optimizer.iterations.numpy()) == 2
    assert int(straight.pg_optimizer.iterations.numpy()) == 3

    keras.utils.set_random_seed(0)
    first = tiny("seqgan", **config)
    first.compile()
    first.fit(data.take(4), epochs=1, verbose=0)
    assert first.phase == "adversarial"
    path = str(tmp_path / "half.keras")
    first.save(path)
    resumed = keras.saving.load_model(path)
    assert int(resumed.steps_done.numpy()) == 4
    assert int(resumed.pg_optimizer.iterations.numpy()) == 1
    for a, b in zip(first.pg_optimizer.variables, resumed.pg_optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    resumed.fit(data.skip(4), epochs=1, verbose=0)
    for a, b in zip(weights(straight), weights(resumed)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_mle_lowers_the_nll_of_its_data():
    data = tokens(64, seed=2)
    data[:, 1::2] = data[:, ::2]  # a learnable pattern: every other token repeats
    gan = tiny("mle", seed=0)
    gan.compile()
    before = gan.nll(data)
    gan.fit(data, batch_size=16, epochs=15, verbose=0)
    assert gan.nll(data) < before - 0.3


@pytest.mark.parametrize("name", TEXT_FAMILIES)
def test_a_mixed_precision_policy_is_refused(name):
    with kerasgan.precision.policy_scope("mixed_bfloat16"):
        with pytest.raises(ValueError, match="float32 only"):
            tiny(name)


def test_vocabulary_mismatch_and_bad_tokens_are_clear():
    vocab = Vocabulary.build(CAPTIONS)
    with pytest.raises(VocabularyError, match=f"{len(vocab)} tokens where vocab_size is 12"):
        tiny("mle", vocabulary=vocab.to_json())
    gan = tiny("mle", vocab_size=len(vocab), vocabulary=vocab.to_json())
    assert gan.generate(2, seed=0).texts == [vocab.decode(r) for r in gan.generate(2, seed=0).ids]
    gan.compile()
    bad = tokens(16, vocab=len(vocab)) + len(vocab)  # ids beyond the vocabulary
    with pytest.raises(ValueError, match="token ids must be integers in \\[0, vocab_size\\)"):
        gan.fit(bad, batch_size=8, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="a data batch must be \\(batch, 6\\) token ids"):
        gan.fit(tokens(16, length=7), batch_size=8, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="temperature must be a number > 0"):
        gan.generate(2, temperature=-1)


def test_gradient_clipping_is_global_under_mirrored(mirrored_strategy):
    """Keras clips each replica's local gradients before the all-reduce;
    kerasgan's update clips their sum, as one device does: with a clip so
    small that it always acts, mirrored still equals one device."""
    data = tf.data.Dataset.from_tensor_slices(tokens(32, seed=4)).batch(16, drop_remainder=True)
    runs = []
    for strategy in (tf.distribute.OneDeviceStrategy("/cpu:0"), mirrored_strategy):
        with strategy.scope():
            keras.utils.set_random_seed(5)
            gan = tiny("mle", seed=1)
            gan.compile(keras.optimizers.SGD(0.5, global_clipnorm=1e-3), keras.optimizers.SGD())
        gan.fit(data, epochs=1, verbose=0)
        runs.append(weights(gan))
    for a, b in zip(*runs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    moved = max(np.abs(a - b).max() for a, b in zip(runs[0], weights(tiny("mle", seed=1))))
    assert moved > 0


def _cli(*args, cwd):
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run([sys.executable, "-m", "kerasgan.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


class _Done:
    """What a command run in this process left: its exit status and output."""

    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def _cli_here(capsys, *args):
    """``kerasgan ARGS`` run in this process (no TensorFlow start-up per call)."""
    from kerasgan import cli

    capsys.readouterr()
    try:
        code = cli.main(list(args))
    except SystemExit as e:  # argparse's errors
        code = e.code
    captured = capsys.readouterr()
    return _Done(code, captured.out, captured.err)


def test_cli_trains_samples_and_scores_a_text_run(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def _cli(*args, cwd):  # noqa: F811  (in this process: the same command, 4x faster)
        del cwd
        return _cli_here(capsys, *args)

    data = tmp_path / "captions.txt"
    data.write_text("\n".join(CAPTIONS) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    proc = _cli("train", "mle", "--data", str(data), "--epochs", "2", "--batch-size", "8",
                "--embedding-dim", "8", "--hidden-dim", "8", "--out", str(out), "--quiet",
                cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (out / "samples" / "epoch_0002.txt").exists()
    history = (out / "history.csv").read_text().splitlines()
    assert history[0].startswith("epoch") and "distinct" in history[0] and len(history) == 3

    proc = _cli("sample", str(out), "--n", "5", "--seed", "1", "--temperature", "0.8",
                "--out", str(tmp_path / "s.txt"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    printed = proc.stdout.strip().splitlines()
    assert len(printed) == 5 and (tmp_path / "s.txt").read_text().strip().splitlines() == printed
    words = {w for line in CAPTIONS for w in line.split()}
    assert all(set(line.split()) <= words | {"<unk>"} for line in printed)

    proc = _cli("evaluate", str(out), "--metrics", "bleu,self_bleu", "--num-gen", "50",
                "--out", str(tmp_path / "scores.json"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    import json

    scores = json.loads((tmp_path / "scores.json").read_text())["results"]
    assert set(scores) == {f"{m}{n}" for m in ("bleu", "self_bleu") for n in (2, 3, 4, 5)}
    assert all(0 <= v <= 1 for v in scores.values())

    other = tmp_path / "other.txt"
    other.write_text("zebras graze in a field\n" * 8, encoding="utf-8")
    for args, message in (
            (("train", "mle", "--data", str(other), "--epochs", "2", "--batch-size", "8",
              "--embedding-dim", "8", "--hidden-dim", "8", "--out", str(out)),
             "'vocabulary': '<vocabulary of 24 tokens, sha256"),
            (("sample", str(out), "--temperature", "0"), "--temperature must be a number > 0"),
            (("evaluate", str(out), "--metrics", "nll_oracle"), "nll_oracle needs --oracle"),
            (("sample", str(out), "--label", "1"), "--label does not apply")):
        proc = _cli(*args, cwd=tmp_path)
        assert proc.returncode != 0 and message in proc.stderr, proc.stderr


@pytest.mark.slow
def test_a_killed_seqgan_run_resumes_inside_discriminator_pre_training(tmp_path):
    """Run folders count a text family's steps over its phases (not generator
    updates, which discriminator pre-training has none of): SIGKILL at step 4,
    inside ``pretrain_d``, and the same command again ends with the weights of
    an uninterrupted run."""
    data = tmp_path / "captions.txt"
    data.write_text("\n".join(CAPTIONS) + "\n", encoding="utf-8")
    args = ["train", "seqgan", "--data", str(data), "--epochs", "2", "--batch-size", "8",
            "--embedding-dim", "8", "--hidden-dim", "8", "--pretrain-steps", "2",
            "--pretrain-d-steps", "3", "--rollouts", "2", "--d-embedding-dim", "4",
            "--filter-sizes", "1,2", "--num-filters", "4,4", "--backup-every", "1", "--quiet"]
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2", PYTHONHASHSEED="0")

    def cli(out, fault=None):
        head = [os.path.join(REPO, "tests", "faults.py"), fault, "4", "--"] if fault else \
            ["-m", "kerasgan.cli"]
        return subprocess.run([sys.executable, *head, *args, "--out", str(out)], env=env,
                              capture_output=True, text=True, timeout=600)

    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    assert cli(reference).returncode == 0
    killed = cli(resumed, "kill-at-step")
    assert killed.returncode == -9, killed.stderr[-2000:]
    from kerasgan import run as runs

    assert runs.list_backups(resumed / "backup")[0][0] == 3  # steps 0-1 likelihood, 2-4 pretrain_d
    again = cli(resumed)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "(step 3)" in again.stderr
    a = keras.saving.load_model(str(reference / "gan.keras"))
    b = keras.saving.load_model(str(resumed / "gan.keras"))
    assert int(a.steps_done.numpy()) == int(b.steps_done.numpy()) == 6
    for x, y in zip(a.weights, b.weights):
        np.testing.assert_allclose(x.numpy(), y.numpy(), rtol=1e-5, atol=1e-6, err_msg=x.path)
