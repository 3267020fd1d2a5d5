"""Pix2Pix on facades (label map -> photo, BtoA) on a CPU budget: train for a
wall-clock limit, then PSNR / SSIM on the 106 test pairs next to trivial
baselines, a triplet grid and a JSON record.

    python benchmarks/pix2pix_facades.py --data ../shared/data/facades --size 128 \
        --width 32 --batch-size 4 --minutes 16 --out runs/pix2pix_facades128
"""

import argparse
import json
import os
import time

import keras
import numpy as np

import kerasgan
from kerasgan.metrics.paired import baseline_scores, paired_scores
from kerasgan.models.image_conditioned import triplet_png


class TimeLimit(keras.callbacks.Callback):
    def __init__(self, seconds):
        super().__init__()
        self.seconds, self.start, self.steps = seconds, None, 0

    def on_train_begin(self, logs=None):
        self.start = time.time()

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if time.time() - self.start > self.seconds:
            self.model.stop_training = True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default=os.path.join("..", "shared", "data", "facades"))
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--minutes", type=float, default=16)
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    keras.utils.set_random_seed(args.seed)
    open_ = lambda split: kerasgan.data.open_paired(args.data, split=split, direction="BtoA",
                                                   resize=args.size)
    train, test = open_("train"), open_("test")
    gan = kerasgan.models.Pix2Pix(image_shape=(args.size, args.size, 3), width=args.width,
                                  d_width=args.width, seed=args.seed)
    gan.compile()
    steps = train.num_batches(args.batch_size)
    limit = TimeLimit(args.minutes * 60)
    t0 = time.time()
    history = gan.fit(train.dataset(args.batch_size, seed=args.seed, jitter=True, flip=True,
                                    repeat=True),
                      epochs=args.epochs, steps_per_epoch=steps, verbose=2,
                      callbacks=[limit, keras.callbacks.CSVLogger(
                          os.path.join(args.out, "history.csv"))])
    train_s = time.time() - t0
    gan.save(os.path.join(args.out, "gan.keras"))
    scores = paired_scores(gan, test)
    baselines = baseline_scores(test, train)
    inputs, targets = test.arrays(0, 6)
    triplet_png(gan, inputs, targets, os.path.join(args.out, "triplets.png"), scale=1)
    record = {
        "config": vars(args), "steps": int(gan.g_optimizer.iterations.numpy()),
        "epochs": len(history.history["g_loss"]), "train_seconds": train_s,
        "seconds_per_step": train_s / max(1, limit.steps),
        "generator_params": gan.generator.count_params(),
        "discriminator_params": gan.discriminator.count_params(),
        "test": scores, "baselines": baselines,
        "last_epoch": {k: v[-1] for k, v in history.history.items()},
        "versions": kerasgan.run.versions() if hasattr(kerasgan, "run") else None,
    }
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(record, f, indent=2)
    print(json.dumps({k: record[k] for k in ("steps", "epochs", "seconds_per_step", "test",
                                             "baselines")}, indent=2))


if __name__ == "__main__":
    main()
