"""Training runs on disk: the run folder, its config, backups and resume.

A run folder holds::

    run.json                 everything needed to repeat the run (and its state)
    samples/epoch_NNNN.png   sample grid from fixed latents after each epoch
    history.csv              per-epoch losses (keras.callbacks.CSVLogger)
    loss_curve.png           the same, plotted
    backup/state.weights.h5  last end-of-epoch state: weights, optimizer slots, seed
    backup/state.json        the epoch that backup closes
    gan.keras                the whole GAN at the end (networks, optimizers)
    generator.keras          the final generator (the EMA one when enabled)

Running the same command again resumes from ``backup/``; every file is written
to a temporary name and renamed, so an interruption never leaves a half-written
backup where a good one was.
"""

import json
import os
import platform
import sys

import keras
import tensorflow as tf

import kerasgan
from kerasgan.callbacks import LossCurve, SampleGrid
from kerasgan.images import atomic_write

RUN_FILE = "run.json"
BACKUP_DIR = "backup"
BACKUP_WEIGHTS = "state.weights.h5"
BACKUP_STATE = "state.json"

#: settings that must match to resume a run (the epoch count may grow).
RESUME_KEYS = ("family", "model", "data", "batch_size", "seed", "jit_compile")


class RunError(ValueError):
    """A run folder or its settings cannot be used; the message says what to do."""


def write_json(path, obj):
    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2, sort_keys=True)
            f.write("\n")

    atomic_write(path, write, suffix=".json")


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise RunError(f"{path} is not valid JSON ({e}): repair or delete it") from None


def make_strategy(name):
    """``auto``: MirroredStrategy over all GPUs when there are several, else the
    default; ``one-device``: the first GPU or the CPU; ``mirrored``: all GPUs
    (or the CPU alone)."""
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    if name == "one-device":
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    raise RunError(f"unknown --strategy {name!r}: use auto, one-device or mirrored")


class EpochBackup(keras.callbacks.Callback):
    """Saves the whole training state at the end of every epoch, atomically.

    The weights file holds the networks, the EMA generator, both optimizers'
    slots and iteration counts, and the model's seed-generator state, so a run
    resumed from it continues exactly as the uninterrupted run would.
    """

    def __init__(self, directory):
        super().__init__()
        self.directory = directory

    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(self.directory, exist_ok=True)
        atomic_write(
            os.path.join(self.directory, BACKUP_WEIGHTS),
            self.model.save_weights,
            suffix=".weights.h5",
        )
        write_json(os.path.join(self.directory, BACKUP_STATE), {"epoch": epoch + 1})


def backup_epoch(run_dir):
    """Epochs completed by the run's last backup (0 when there is none)."""
    state_path = os.path.join(run_dir, BACKUP_DIR, BACKUP_STATE)
    weights_path = os.path.join(run_dir, BACKUP_DIR, BACKUP_WEIGHTS)
    if not (os.path.exists(state_path) and os.path.exists(weights_path)):
        return 0
    return int(read_json(state_path)["epoch"])


def versions():
    return {
        "kerasgan": kerasgan.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
    }


def build_gan(run_config, strategy):
    cls = kerasgan.models.get_class(run_config["family"])
    # The run's seed also fixes the initial weights, so a run repeats exactly.
    keras.utils.set_random_seed(int(run_config["seed"]))
    with strategy.scope():
        gan = cls(**run_config["model"])
        gan.compile(jit_compile=run_config.get("jit_compile", False))
    return gan


def check_compatible(run_dir, new, old):
    """Raises RunError when ``run_dir`` holds a run that ``new`` cannot resume."""
    if old.get("family") != new["family"]:
        raise RunError(
            f"{run_dir} holds a run of family {old.get('family')!r}, not {new['family']!r}: "
            "choose another --out"
        )
    for key in RESUME_KEYS:
        if old.get(key) != new.get(key):
            raise RunError(
                f"{run_dir} holds a run made with other settings ({key}: {old.get(key)!r} "
                f"there, {new.get(key)!r} now): repeat its command (see {RUN_FILE}) or "
                "choose another --out"
            )


def train(run_config, run_dir, source, strategy_name="auto", verbose="auto"):
    """Trains (or resumes) the run described by ``run_config`` in ``run_dir``.

    Args:
        run_config: dict with ``family``, ``model`` (constructor kwargs),
            ``data`` (how ``source`` was opened), ``batch_size``, ``epochs``,
            ``seed``, ``jit_compile``.
        run_dir: the run folder.
        source: the opened :class:`kerasgan.data.ImageSource`.
        strategy_name: see :func:`make_strategy`.
        verbose: ``fit`` verbosity.

    Returns:
        The trained GAN.
    """
    run_path = os.path.join(run_dir, RUN_FILE)
    initial_epoch = 0
    if os.path.exists(run_path):
        check_compatible(run_dir, run_config, read_json(run_path))
        initial_epoch = backup_epoch(run_dir)
    strategy = make_strategy(strategy_name)
    batch_size = int(run_config["batch_size"])
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise RunError(
            f"batch size {batch_size} does not split over {replicas} replicas: "
            f"use a multiple of {replicas}"
        )
    steps = source.num_batches(batch_size)  # raises DataError when too large
    gan = build_gan(run_config, strategy)
    if initial_epoch:
        gan.load_weights(os.path.join(run_dir, BACKUP_DIR, BACKUP_WEIGHTS))
    epochs = int(run_config["epochs"])
    record = dict(run_config, versions=versions(), strategy=strategy_name,
                  replicas=replicas, command=" ".join(["kerasgan", *sys.argv[1:]]))
    os.makedirs(run_dir, exist_ok=True)
    write_json(run_path, record)
    if initial_epoch >= epochs:
        print(f"kerasgan: {run_dir} already has {initial_epoch} epochs (asked {epochs}); "
              "nothing to train", file=sys.stderr)
    else:
        if initial_epoch:
            print(f"kerasgan: resuming {run_dir} from the end of epoch {initial_epoch}",
                  file=sys.stderr)
        dataset = source.dataset(
            batch_size, shuffle=True, seed=run_config["seed"],
            flip=run_config["data"].get("flip", False), repeat=True, start_epoch=initial_epoch,
            labels=bool(run_config["model"].get("num_classes")),
        )
        csv_path = os.path.join(run_dir, "history.csv")
        callbacks = [
            SampleGrid(os.path.join(run_dir, "samples"), n=64, seed=run_config["seed"]),
            keras.callbacks.CSVLogger(csv_path, append=initial_epoch > 0),
            LossCurve(os.path.join(run_dir, "loss_curve.png"), csv_path=csv_path,
                      title=f"{run_config['family']} on {run_config['data']['source']}"),
            keras.callbacks.TerminateOnNaN(),
            EpochBackup(os.path.join(run_dir, BACKUP_DIR)),
        ]
        gan.fit(dataset, epochs=epochs, initial_epoch=initial_epoch,
                steps_per_epoch=steps, callbacks=callbacks, verbose=verbose, shuffle=False)
    save_final(gan, run_dir)
    return gan


def save_final(gan, run_dir):
    atomic_write(os.path.join(run_dir, "gan.keras"), gan.save, suffix=".keras")
    atomic_write(os.path.join(run_dir, "generator.keras"), gan.sampling_generator.save,
                 suffix=".keras")


def load_run(run_dir):
    """Loads the GAN of a run folder (``gan.keras``, else its last backup).

    Raises:
        RunError: the folder is not a run, or holds no trained state yet.
    """
    if os.path.isfile(run_dir) and run_dir.endswith(".keras"):
        return keras.saving.load_model(run_dir)
    run_path = os.path.join(run_dir, RUN_FILE)
    if not os.path.exists(run_path):
        raise RunError(
            f"{run_dir} is not a kerasgan run (no {RUN_FILE}): pass the --out folder "
            "of `kerasgan train` or a .keras file"
        )
    final = os.path.join(run_dir, "gan.keras")
    if os.path.exists(final):
        return keras.saving.load_model(final)
    if backup_epoch(run_dir):
        gan = build_gan(read_json(run_path), tf.distribute.get_strategy())
        gan.load_weights(os.path.join(run_dir, BACKUP_DIR, BACKUP_WEIGHTS))
        return gan
    raise RunError(f"{run_dir} has no trained state yet: train at least one epoch")
