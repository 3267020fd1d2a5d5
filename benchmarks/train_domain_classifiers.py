"""Trains the MNIST and CIFAR-10 domain classifiers of ``kerasgan.metrics.domain``.

Reads the real datasets in ``../shared/data`` (MNIST IDX files; CIFAR-10 as the JPEG
tarball ``cifar10/cifar10-jpg.tar.gz``, extracted to a temporary folder), trains each
network on its train split on the CPU, evaluates the float32 model on the full test split
(10,000 images), and writes ``kerasgan/metrics/weights/<name>_classifier.weights.h5``
atomically. It prints the test accuracy, the wall times and the sha256, and the
``NETWORKS`` fields to paste into ``kerasgan/metrics/domain.py``.

Recipe (both): SGD with Nesterov momentum 0.9, decoupled weight decay 5e-4 (not on batch
norm or biases), linear warm-up then cosine decay to zero (per step), label smoothing,
``mixed_bfloat16`` compute (about 5x faster than float32 on CPUs with AMX / AVX-512 BF16;
the weights stay float32 and the accuracy is measured in float32). Images are scaled to
``[-1, 1]`` as ``x / 127.5 - 1``.

- MNIST: random shifts of up to 2 pixels (zero padding), no flips.
- CIFAR-10: random 32x32 crops of the image padded by 4 pixels (reflect padding), and
  horizontal flips with probability 0.5.

Augmentation and shuffling are drawn from one NumPy generator seeded by ``--seed``, and
``keras.utils.set_random_seed(seed)`` seeds Python, NumPy and TensorFlow.

Usage:
    python benchmarks/train_domain_classifiers.py [--only mnist|cifar10] [--seed 0]
        [--data ../shared/data] [--out kerasgan/metrics/weights] [--epochs N]
"""

import argparse
import os
import sys
import tarfile
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # run from a source checkout without installing

import numpy as np  # noqa: E402

# Per network: epochs, batch size, peak learning rate, warm-up epochs, label smoothing,
# augmentation (shift/crop padding in pixels, its np.pad mode, left-right flips).
RECIPES = {
    "mnist": dict(
        epochs=3, batch_size=128, lr=0.1, warmup=0.5, smoothing=0.1, pad=2, pad_mode="constant", flip=False
    ),
    "cifar10": dict(
        epochs=12, batch_size=256, lr=0.2, warmup=1.5, smoothing=0.1, pad=4, pad_mode="reflect", flip=True
    ),
}
WEIGHT_DECAY = 5e-4


# --------------------------------------------------------------------------- data


def load_mnist(data_dir, split):
    """`(images uint8 NHWC, labels int64)` of an MNIST split; labels are the digits."""
    from kerasgan.data import open_source

    src = open_source(os.path.join(data_dir, "mnist"), split=split)
    return src.images, src.labels


def load_cifar10(data_dir, split, tmp):
    """`(images uint8 NHWC, labels int64)` of a CIFAR-10 split, in the standard class order.

    The tarball is extracted (once) into `tmp`; the class folders are mapped to
    `CIFAR10_CLASS_NAMES` by name, not by their sorted position.
    """
    from kerasgan.data import open_source
    from kerasgan.metrics.domain import CIFAR10_CLASS_NAMES

    root = os.path.join(tmp, "cifar10")
    if not os.path.isdir(root):
        with tarfile.open(os.path.join(data_dir, "cifar10", "cifar10-jpg.tar.gz")) as tar:
            tar.extractall(root, filter="data")
    src = open_source(root, split=split)
    if sorted(src.class_names) != sorted(CIFAR10_CLASS_NAMES):
        raise SystemExit(
            f"unexpected CIFAR-10 class folders {src.class_names}, expected {CIFAR10_CLASS_NAMES}"
        )
    to_standard = np.asarray([CIFAR10_CLASS_NAMES.index(c) for c in src.class_names], np.int64)
    return src.images, to_standard[src.labels]


def augment(images, rng, pad, flip, pad_mode):
    """Random `pad`-pixel shifts (crops of the padded image) and optional left-right flips."""
    n, h, w, _ = images.shape
    pad_width = ((0, 0), (pad, pad), (pad, pad), (0, 0))
    padded = np.pad(images, pad_width, mode=pad_mode)
    dy = rng.integers(0, 2 * pad + 1, n)
    dx = rng.integers(0, 2 * pad + 1, n)
    out = np.empty_like(images)
    for oy in range(2 * pad + 1):
        for ox in range(2 * pad + 1):
            idx = np.flatnonzero((dy == oy) & (dx == ox))
            out[idx] = padded[idx, oy : oy + h, ox : ox + w]
    if flip:
        idx = np.flatnonzero(rng.random(n) < 0.5)
        out[idx] = out[idx, :, ::-1]
    return out


def epoch_dataset(images, labels, batch_size):
    """A tf.data pipeline over one epoch of (already shuffled and augmented) uint8 images."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((images, labels.astype(np.float32)))
    ds = ds.batch(batch_size, drop_remainder=True)
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32) / 127.5 - 1.0, y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


# --------------------------------------------------------------------------- training


def evaluate(model, images, labels, batch_size=500):
    """Top-1 accuracy of a domain network (dict outputs) on uint8 images."""
    correct = 0
    for i in range(0, len(images), batch_size):
        x = images[i : i + batch_size].astype(np.float32) / 127.5 - 1.0
        logits = model(x, training=False)["logits"]
        correct += int(np.sum(np.argmax(np.asarray(logits), axis=1) == labels[i : i + batch_size]))
    return correct / len(images)


def train(name, train_data, test_data, out_dir, seed, epochs=None):
    import keras

    from kerasgan.images import atomic_write
    from kerasgan.metrics.domain import NETWORKS

    network = NETWORKS[name]
    recipe = dict(RECIPES[name])
    if epochs:
        recipe["epochs"] = epochs
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x_train, y_train = train_data
    x_test, y_test = test_data
    bs = recipe["batch_size"]
    steps_per_epoch = len(x_train) // bs
    total_steps = steps_per_epoch * recipe["epochs"]
    warmup_steps = int(recipe["warmup"] * steps_per_epoch)

    keras.backend.clear_session()
    model = network.builder(dtype="mixed_bfloat16")
    train_model = keras.Model(model.input, model.output["logits"], name=f"{name}_train")
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=recipe["lr"] / 10,
        decay_steps=total_steps - warmup_steps,
        alpha=0.0,
        warmup_target=recipe["lr"],
        warmup_steps=warmup_steps,
    )
    optimizer = keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True, weight_decay=WEIGHT_DECAY)
    optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    train_model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=recipe["smoothing"]),
        metrics=["accuracy"],
    )
    print(
        f"[{name}] {model.count_params():,} params, {len(x_train)} train / {len(x_test)} test images, "
        f"{recipe['epochs']} epochs of {steps_per_epoch} steps, batch {bs}, peak lr {recipe['lr']}",
        flush=True,
    )
    start = time.perf_counter()
    for epoch in range(recipe["epochs"]):
        t = time.perf_counter()
        order = rng.permutation(len(x_train))
        x = augment(x_train[order], rng, recipe["pad"], recipe["flip"], recipe["pad_mode"])
        y = keras.utils.to_categorical(y_train[order], 10)
        history = train_model.fit(epoch_dataset(x, y, bs), epochs=1, verbose=0)
        print(
            f"[{name}] epoch {epoch + 1}/{recipe['epochs']}: loss {history.history['loss'][-1]:.4f}, "
            f"train acc {history.history['accuracy'][-1]:.4f}, {time.perf_counter() - t:.0f} s",
            flush=True,
        )
    train_time = time.perf_counter() - start

    # Write the weights, then measure what was written: rebuilt in float32 and loaded.
    path = os.path.join(out_dir, network.weights_file)
    atomic_write(path, model.save_weights, suffix=".weights.h5")
    keras.backend.clear_session()
    final = network.builder(dtype="float32")
    final.load_weights(path)
    accuracy = evaluate(final, x_test, y_test)
    from kerasgan.cache import file_sha256

    digest = file_sha256(path)
    size_kb = os.path.getsize(path) / 1024
    print(
        f"[{name}] test accuracy {accuracy:.4f} (float32, {len(x_test)} images); "
        f"training {train_time:.0f} s; {path} ({size_kb:.0f} KiB)\n"
        f"[{name}] paste into NETWORKS[{name!r}]: test_accuracy={accuracy:.4f}, sha256=\"{digest}\"",
        flush=True,
    )
    return {"accuracy": accuracy, "train_s": train_time, "sha256": digest, "path": path}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=sorted(RECIPES), help="train one network only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=os.path.join(os.path.dirname(REPO), "shared", "data"))
    parser.add_argument("--out", default=os.path.join(REPO, "kerasgan", "metrics", "weights"))
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    args = parser.parse_args(argv)

    names = [args.only] if args.only else ["mnist", "cifar10"]
    results = {}
    with tempfile.TemporaryDirectory(prefix="kerasgan-domain-") as tmp:
        for name in names:
            t = time.perf_counter()
            if name == "mnist":
                train_data, test_data = load_mnist(args.data, "train"), load_mnist(args.data, "test")
            else:
                train_data = load_cifar10(args.data, "train", tmp)
                test_data = load_cifar10(args.data, "test", tmp)
            print(f"[{name}] data loaded in {time.perf_counter() - t:.0f} s", flush=True)
            results[name] = train(name, train_data, test_data, args.out, args.seed, args.epochs)
            results[name]["wall_s"] = time.perf_counter() - t
    print("\nsummary:")
    for name, r in results.items():
        print(
            f"  {name:8s} test acc {r['accuracy']:.4f}  train {r['train_s']:.0f} s  "
            f"wall {r['wall_s']:.0f} s  sha256 {r['sha256']}"
        )


if __name__ == "__main__":
    main()
