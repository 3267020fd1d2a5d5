"""Training runs on disk: the run folder, its config, backups and resume.

A run folder holds::

    run.json                     everything needed to repeat the run (and its state)
    samples/epoch_NNNN.png       sample grid from fixed latents after each epoch
    history.csv                  per-epoch losses and the diversity statistic
    loss_curve.png               the same, plotted
    backup/step-NNNNNNNNN.weights.h5
                                 the last two backups (every ``backup_every`` steps
                                 and at each epoch end): weights, EMA generator,
                                 optimizer slots, seed state, and the progress
                                 (step, epoch, the epoch's running loss sums)
    gan.keras                    the whole GAN at the end (networks, optimizers)
    generator.keras              the final generator (the EMA one when enabled)

Running the same command again resumes from the newest backup, in the middle of
an epoch if that is where it was taken, and ends with the same weights as an
uninterrupted run. Every file is written to a temporary name and renamed, and a
backup is one file, so a kill at any moment (even during a write) leaves the
last good backup intact; the one before it is kept as well.

Under ``MultiWorkerMirroredStrategy`` the chief (worker 0) writes the run folder;
every other worker keeps its own backups (and ``run.json``) in
``worker-<i>/`` inside ``--out``, so no shared file system is needed.
"""

import contextlib
import glob
import json
import os
import platform
import re
import signal
import sys
import threading

import h5py
import keras
import numpy as np
import tensorflow as tf

from kerasgan import models
from kerasgan.callbacks import LossCurve, SampleGrid, TextSamples, TripletGrid
from kerasgan.spec import TOKEN_SEQUENCE
from kerasgan.data import DataError
from kerasgan.data.batches import batch_kind
from kerasgan.images import atomic_write
from kerasgan.version import __version__

RUN_FILE = "run.json"
BACKUP_DIR = "backup"
#: backups kept in ``backup/`` (the newest and the one before it)
KEEP_BACKUPS = 2
#: default ``backup_every``: steps between backups inside an epoch
DEFAULT_BACKUP_EVERY = 500
_BACKUP_GROUP = "kerasgan_backup"
_BACKUP_RE = re.compile(r"^step-(\d+)\.weights\.h5$")

#: settings that must match to resume a run (the epoch count may grow).
RESUME_KEYS = ("family", "model", "data", "batch_size", "seed", "jit_compile", "precision")

STRATEGIES = ("auto", "one-device", "mirrored", "multi-worker")


class RunError(ValueError):
    """A run folder or its settings cannot be used; the message says what to do."""


class Preempted(Exception):
    """Training stopped on SIGTERM after writing a backup of the current step."""

    def __init__(self, step):
        super().__init__(
            f"stopped by SIGTERM at step {step}, after writing a backup of it: run the "
            "same command again to resume"
        )
        self.step = step


class _SigtermFlag:
    """Turns SIGTERM (what schedulers send before a preemption kill) into a flag
    the backup callback reads at the next step end: it backs up that step and
    stops. Installed in the main thread of a single-worker run only (workers of
    a multi-worker run would not stop at the same step)."""

    def __init__(self):
        self.raised = False

    @contextlib.contextmanager
    def installed(self, enabled=True):
        if not enabled or threading.current_thread() is not threading.main_thread():
            yield self
            return

        def handler(signum, frame):
            self.raised = True

        previous = signal.signal(signal.SIGTERM, handler)
        try:
            yield self
        finally:
            signal.signal(signal.SIGTERM, previous)


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


class RunRecord:
    """A run's ``run.json``, read once and typed.

    Args:
        run_dir: the run folder.
        config: the parsed ``run.json``.

    Example:
        >>> record = RunRecord.find("runs/p2p")            # or "runs/p2p/gan.keras"
        >>> record.family, record.epochs
        ('my_family', 20)
        >>> source = record.open_data(split="test")         # the run's data, reopened
    """

    def __init__(self, run_dir, config):
        self.run_dir = os.fspath(run_dir)
        self.config = dict(config)

    @classmethod
    def find(cls, path):
        """The record of the run folder ``path``, or of the folder holding the
        ``.keras`` file ``path``; None when there is no ``run.json``."""
        path = os.fspath(path)
        run_dir = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
        file = os.path.join(run_dir, RUN_FILE)
        if not os.path.exists(file):
            return None
        return cls(run_dir, read_json(file))

    family = property(lambda self: self.config.get("family"))
    model = property(lambda self: dict(self.config.get("model", {})))
    data = property(lambda self: dict(self.config.get("data", {})))
    batch_size = property(lambda self: int(self.config["batch_size"]))
    epochs = property(lambda self: int(self.config["epochs"]))
    seed = property(lambda self: int(self.config.get("seed", 0)))
    jit_compile = property(lambda self: bool(self.config.get(
        "jit_compile", _SETTING_DEFAULTS["jit_compile"])))
    precision = property(lambda self: self.config.get("precision", _SETTING_DEFAULTS["precision"]))

    @property
    def source(self):
        """The ``--data`` the run was trained on."""
        return self.data.get("source")

    @property
    def spec(self):
        """The family's :class:`kerasgan.spec.FamilySpec`."""
        return models.get_class(self.family).spec

    def open_data(self, split=None, source=None, default_split="test"):
        """The run's data source, reopened with its options.

        Args:
            split: the split (default: ``default_split`` when it exists, else
                the run's own).
            source: another ``--data`` to open with the run's options.
            default_split: the split tried when ``split`` is None.
        """
        return open_data(self.spec.batch, self.data, split=split, source=source,
                         default_split=default_split)


def open_data(batch, data, split=None, source=None, default_split="test"):
    """A source of batch kind ``batch`` from a run record's ``data`` entry
    (``source`` replaces its ``--data``); the split is ``split``, else
    ``default_split`` if the data has it, else the record's."""
    from kerasgan.data import DataError
    from kerasgan.data.batches import batch_kind

    kind = batch_kind(batch)
    data = dict(data)
    if source:
        data.update(source=source, source_b=None)
    if not data.get("source"):
        raise RunError("the run records no data source: pass --data")
    if split:
        return kind.open(data, split)
    try:
        return kind.open(data, default_split)
    except DataError:  # no such split (e.g. trainA/ and trainB/ only): the training data
        return kind.open(data, data.get("split") or "train")


# ---------------------------------------------------------------- strategies
def _check_tf_config():
    text = os.environ.get("TF_CONFIG")
    if not text:
        raise RunError(
            "--strategy multi-worker needs TF_CONFIG, e.g. "
            'TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
            '"task": {"type": "worker", "index": 0}}\' on the first machine '
            "(index 1 on the second): see docs/scale_out.md"
        )
    try:
        config = json.loads(text)
        workers = config["cluster"]["worker"]
        task = config["task"]
        index = int(task["index"])
    except (ValueError, KeyError, TypeError) as e:
        raise RunError(
            f"TF_CONFIG is not a valid cluster description ({type(e).__name__}: {e}): it needs "
            '"cluster": {"worker": [...]} and "task": {"type": "worker", "index": N}'
        ) from None
    if task.get("type") not in ("worker", "chief") or not 0 <= index < len(
            config["cluster"].get(task.get("type"), [])):
        raise RunError(
            f"TF_CONFIG task {task!r} is not in its cluster {config['cluster']!r}: "
            "give each process its own type and index"
        )


COLLECTIVES = ("auto", "nccl", "ring")


def make_strategy(name, collective="auto"):
    """The ``tf.distribute`` strategy called ``name``.

    - ``auto``: ``MirroredStrategy`` over all GPUs when there are several, else
      the default (one device);
    - ``one-device``: the first GPU or the CPU;
    - ``mirrored``: all GPUs of this machine (or the CPU alone);
    - ``multi-worker``: ``MultiWorkerMirroredStrategy`` over the machines named
      in ``TF_CONFIG``. It must be created before TensorFlow runs anything,
      so call this first. ``collective`` picks its all-reduce: ``nccl`` (GPUs),
      ``ring`` (gRPC, CPUs or GPUs) or ``auto`` (TensorFlow's choice).
    """
    if collective not in COLLECTIVES:
        raise RunError(f"unknown collective {collective!r}: use one of {', '.join(COLLECTIVES)}")
    if name == "multi-worker":
        _check_tf_config()
        implementation = {
            "auto": tf.distribute.experimental.CommunicationImplementation.AUTO,
            "nccl": tf.distribute.experimental.CommunicationImplementation.NCCL,
            "ring": tf.distribute.experimental.CommunicationImplementation.RING,
        }[collective]
        options = tf.distribute.experimental.CommunicationOptions(implementation=implementation)
        try:
            return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
        except RuntimeError as e:
            if "program startup" in str(e):
                raise RunError(
                    "MultiWorkerMirroredStrategy must be created before TensorFlow runs "
                    "anything: create it first in the program"
                ) from None
            raise
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    if name == "one-device":
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    raise RunError(f"unknown --strategy {name!r}: use one of {', '.join(STRATEGIES)}")


def worker_index(strategy):
    """This process's worker index (0 on one machine; the chief is 0)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return 0
    spec = resolver.cluster_spec().as_dict()
    if not spec:
        return 0
    if "chief" in spec:
        return 0 if resolver.task_type == "chief" else 1 + int(resolver.task_id)
    return int(resolver.task_id or 0)


def state_dir(run_dir, worker):
    """Where worker ``worker`` keeps its run state: the run folder for the chief."""
    return run_dir if worker == 0 else os.path.join(run_dir, f"worker-{worker}")


# -------------------------------------------------------------------- backups
def _tracker_state(gan):
    """Each metric tracker's variables (global sums under a strategy)."""
    return {m.name: [float(np.asarray(v.numpy())) for v in m.variables] for m in gan.metrics}


def _restore_trackers(gan, trackers):
    for m in gan.metrics:
        if m.name in trackers:
            for v, value in zip(m.variables, trackers[m.name]):
                v.assign(value)


def backup_path(directory, step):
    return os.path.join(directory, f"step-{int(step):09d}.weights.h5")


def list_backups(directory):
    """``[(step, path)]`` of the complete backups in ``directory``, newest first."""
    found = []
    for path in glob.glob(os.path.join(glob.escape(directory), "step-*.weights.h5")):
        match = _BACKUP_RE.match(os.path.basename(path))
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found, reverse=True)


def write_backup(gan, directory, epoch, step_in_epoch, steps_per_epoch, keep=KEEP_BACKUPS):
    """Writes one backup file atomically and keeps the newest ``keep``.

    The file is ``save_weights`` output with the progress stored beside the
    weights (group ``kerasgan_backup``), so weights and progress can never
    disagree. Returns its path.
    """
    step = gan.training_steps()
    state = {
        "step": step,
        "epoch": int(epoch),
        "step_in_epoch": int(step_in_epoch),
        "steps_per_epoch": int(steps_per_epoch),
        "trackers": _tracker_state(gan),
    }

    def write(tmp):
        gan.save_weights(tmp)
        with h5py.File(tmp, "a") as f:
            f.create_group(_BACKUP_GROUP).attrs["state"] = json.dumps(state)

    os.makedirs(directory, exist_ok=True)
    path = atomic_write(backup_path(directory, step), write, suffix=".weights.h5")
    for _, old in list_backups(directory)[keep:]:
        os.remove(old)
    return path


def read_backup_state(path):
    """The progress stored in backup ``path``; raises RunError if unreadable."""
    try:
        with h5py.File(path, "r") as f:
            return json.loads(f[_BACKUP_GROUP].attrs["state"])
    except (OSError, KeyError, ValueError) as e:
        raise RunError(f"backup {path} is unreadable ({type(e).__name__}: {e})") from None


def clean_partial_files(directory):
    """Removes temporary files a killed write left behind (never a complete backup)."""
    for path in glob.glob(os.path.join(glob.escape(directory), ".tmp-*")):
        try:
            os.remove(path)
        except OSError:
            pass


def load_backup(gan, directory, strategy=None):
    """Loads the newest backup of ``directory`` that reads cleanly into ``gan``.

    A backup that fails to load (a damaged disk, a file of another
    configuration) is reported on stderr and the one before it is tried. Under a
    multi-worker strategy the workers agree on the newest step every one of them
    has.

    Returns:
        The backup's progress dict, or None when there is no backup.

    Raises:
        RunError: backups exist but none loads, or the workers cannot agree.
    """
    backups = list_backups(directory)
    problems = []
    state = None
    for step, path in backups:
        try:
            state = read_backup_state(path)
            if state["step"] != step:
                raise RunError(f"backup {path} holds step {state['step']}, not {step}")
            gan.load_weights(path)
            if gan.training_steps() != step:
                raise RunError(f"backup {path} restores step "
                               f"{gan.training_steps()}, not {step}")
            break
        except (RunError, ValueError, OSError, KeyError) as e:
            problems.append(f"{os.path.basename(path)}: {e}")
            print(f"kerasgan: warning: skipping backup {path}: {e}", file=sys.stderr)
            state = None
    if strategy is not None and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        state = _agree_on_backup(gan, directory, strategy, state, backups)
    if state is None and backups:
        raise RunError(
            f"no backup in {directory} can be loaded ({'; '.join(problems)}): move the "
            "folder away and start again, or train into another --out"
        )
    if state is not None:
        _restore_trackers(gan, state.get("trackers", {}))
    return state


def _agree_on_backup(gan, directory, strategy, state, backups):
    """Every worker resumes from the same step: the smallest newest step."""
    mine = -1 if state is None else int(state["step"])
    values = strategy.run(lambda: tf.constant([float(mine)], tf.float32))
    steps = [int(round(x)) for x in strategy.gather(values, axis=0).numpy()]
    low = min(steps)
    if low == max(steps):
        return state
    if low < 0:
        raise RunError(
            f"worker backups disagree: some worker has none while this one is at step "
            f"{mine}; remove every worker's backup/ to start again"
        )
    for step, path in backups:
        if step == low:
            gan.load_weights(path)
            return read_backup_state(path)
    raise RunError(
        f"worker backups disagree: this worker has no backup of step {low} (its newest is "
        f"{mine}); remove every worker's backup/ to start again"
    )


def latest_backup_step(run_dir):
    """Generator steps done by the run's newest backup (0 when there is none)."""
    backups = list_backups(os.path.join(run_dir, BACKUP_DIR))
    return backups[0][0] if backups else 0


class Backup(keras.callbacks.Callback):
    """Backs up the whole training state every ``every`` training steps and at
    the end of every epoch (see :func:`write_backup`).

    ``steps_per_epoch`` and the epoch's first step turn the global step into an
    (epoch, step in epoch) position, which resume uses. Place it after the
    health check, so a diverged state is never backed up.
    """

    def __init__(self, directory, steps_per_epoch, every=DEFAULT_BACKUP_EVERY, sigterm=None):
        super().__init__()
        self.directory = directory
        self.steps_per_epoch = int(steps_per_epoch)
        self.every = int(every or 0)
        self.sigterm = sigterm
        self._last = None

    def _save(self):
        step = self.model.training_steps()
        if step == self._last:
            return
        epoch, in_epoch = divmod(step, self.steps_per_epoch)
        write_backup(self.model, self.directory, epoch, in_epoch, self.steps_per_epoch)
        self._last = step

    def on_train_batch_end(self, batch, logs=None):
        step = self.model.training_steps()
        if self.every and step % self.every == 0:
            self._save()
        if self.sigterm is not None and self.sigterm.raised:
            self._save()
            raise Preempted(step)

    def on_epoch_end(self, epoch, logs=None):
        self._save()


class _RestoreTrackers(keras.callbacks.Callback):
    """Puts the resumed epoch's running loss sums back after ``fit`` resets them,
    so the epoch's row in history.csv is the mean over the whole epoch."""

    def __init__(self, trackers):
        super().__init__()
        self.trackers = trackers

    def on_epoch_begin(self, epoch, logs=None):
        if self.trackers:
            _restore_trackers(self.model, self.trackers)
            self.trackers = None


def versions():
    return {
        "kerasgan": __version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
    }


def build_gan(run_config, strategy):
    """The run's GAN, built and compiled in ``strategy``'s scope under the run's
    precision policy."""
    from kerasgan import precision

    cls = models.get_class(run_config["family"])
    # The run's seed also fixes the initial weights, so a run repeats exactly.
    keras.utils.set_random_seed(int(run_config["seed"]))
    with strategy.scope(), precision.policy_scope(run_config.get("precision")):
        gan = cls(**run_config["model"])
        gan.compile(jit_compile=run_config.get("jit_compile", False))
    return gan


#: values that settings missing from an older run.json had
_SETTING_DEFAULTS = {"jit_compile": False, "precision": "float32"}


def _warn_other_cpu_configuration(run_dir, before):
    """A resumed run under another oneDNN setting or thread count trains on, but
    not bit for bit as the uninterrupted run would have (docs/cpu.md): say so."""
    from kerasgan import cpu

    if not isinstance(before, dict):
        return

    def value(record, key):
        entry = record.get(key)
        return entry.get("value") if isinstance(entry, dict) else entry

    now = cpu.record()
    changed = [f"{name} {value(before, key)!r} then, {value(now, key)!r} now"
               for name, key in (("oneDNN", "onednn_active"),
                                 ("intra-op threads", "intra_op_threads"))
               if str(value(before, key)) != str(value(now, key))]
    if changed:
        print(f"kerasgan: warning: {run_dir} started under another CPU configuration "
              f"({'; '.join(changed)}): it resumes, but its weights will not repeat the "
              "uninterrupted run bit for bit (see docs/cpu.md)", file=sys.stderr)


def check_compatible(run_dir, new, old):
    """Raises RunError when ``run_dir`` holds a run that ``new`` cannot resume."""
    if old.get("family") != new["family"]:
        raise RunError(
            f"{run_dir} holds a run of family {old.get('family')!r}, not {new['family']!r}: "
            "choose another --out"
        )
    for key in RESUME_KEYS:
        default = _SETTING_DEFAULTS.get(key)
        there, here = old.get(key, default), new.get(key, default)
        if there != here:
            if isinstance(there, dict) and isinstance(here, dict):  # name the entries that differ
                names = sorted(k for k in set(there) | set(here) if there.get(k) != here.get(k))
                there = {k: _short(there.get(k)) for k in names}
                here = {k: _short(here.get(k)) for k in names}
            raise RunError(
                f"{run_dir} holds a run made with other settings ({key}: {there!r} "
                f"there, {here!r} now): repeat its command (see {RUN_FILE}) or "
                "choose another --out"
            )


def _short(value):
    """A setting for a message: a vocabulary (or another long value) as a summary."""
    if isinstance(value, dict) and "tokens" in value:
        from kerasgan.vocabulary import Vocabulary

        vocab = Vocabulary.from_json(value)
        return f"<vocabulary of {len(vocab)} tokens, sha256 {vocab.fingerprint[:12]}>"
    text = repr(value)
    return value if len(text) <= 80 else text[:77] + "..."


def train(run_config, run_dir, source, strategy="auto", verbose="auto",
          backup_every=DEFAULT_BACKUP_EVERY, extra_callbacks=(), strategy_name=None,
          tensorboard=None):
    """Trains (or resumes) the run described by ``run_config`` in ``run_dir``.

    Args:
        run_config: dict with ``family``, ``model`` (constructor kwargs),
            ``data`` (how ``source`` was opened), ``batch_size``, ``epochs``,
            ``seed``, ``jit_compile`` and optionally ``precision``.
        run_dir: the run folder.
        source: the opened :class:`kerasgan.data.ImageSource`.
        strategy: a ``tf.distribute.Strategy``, or a name for
            :func:`make_strategy` (create a multi-worker strategy before
            anything else runs in TensorFlow, and pass it here).
        strategy_name: the name recorded in run.json (default: ``strategy``'s).
        verbose: ``fit`` verbosity.
        backup_every: generator steps between backups inside an epoch (0: only
            at epoch ends).
        extra_callbacks: more Keras callbacks, run after the health check and
            before the backup.
        tensorboard: a folder for ``keras.callbacks.TensorBoard`` (the chief
            logs every epoch's logs there: losses, ``r_t``, ``aug_p``), or None.

    Returns:
        The trained GAN.
    """
    from kerasgan.callbacks import Diversity, HealthCheck, Overfitting

    if isinstance(strategy, str):
        strategy_name, strategy = strategy_name or strategy, make_strategy(strategy)
    else:
        strategy_name = strategy_name or type(strategy).__name__
    worker = worker_index(strategy)
    chief = worker == 0
    own_dir = state_dir(run_dir, worker)
    backup_dir = os.path.join(own_dir, BACKUP_DIR)
    run_path = os.path.join(own_dir, RUN_FILE)
    try:  # a configuration the data cannot take fails here, before anything is written
        gan = build_gan(run_config, strategy)
    except (RunError, DataError):
        raise
    except ValueError as e:
        raise RunError(f"{run_config['family']} cannot be built for "
                       f"{run_config['data'].get('source')}: {e}") from None
    if os.path.exists(run_path):
        previous = read_json(run_path)
        check_compatible(run_dir, run_config, previous)
        _warn_other_cpu_configuration(run_dir, previous.get("cpu"))
    batch_size = int(run_config["batch_size"])
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise RunError(
            f"batch size {batch_size} does not split over {replicas} replicas: "
            f"use a multiple of {replicas}"
        )
    steps = source.num_batches(batch_size)
    if steps == 0:
        raise DataError(
            f"batch size {batch_size} is larger than the dataset ({len(source)} images): "
            f"use a batch size ≤ {len(source)}"
        )
    kind = batch_kind(gan.spec.batch)
    clean_partial_files(backup_dir)
    state = load_backup(gan, backup_dir, strategy)
    done = 0 if state is None else int(state["step"])
    if state is not None and state["steps_per_epoch"] != steps:
        raise RunError(
            f"{run_dir}'s backup was taken with {state['steps_per_epoch']} steps per epoch, "
            f"the data now gives {steps}: repeat the run's command (see {RUN_FILE})"
        )
    epochs = int(run_config["epochs"])
    from kerasgan import cpu

    record = dict(run_config, versions=versions(), strategy=strategy_name,
                  replicas=replicas, command=" ".join(["kerasgan", *sys.argv[1:]]),
                  cpu=cpu.record())
    if worker:
        record["worker"] = worker
    os.makedirs(own_dir, exist_ok=True)
    write_json(run_path, record)
    epoch, in_epoch = divmod(done, steps)
    if epoch >= epochs:
        if chief:
            print(f"kerasgan: {run_dir} already has {epoch} epochs (asked {epochs}); "
                  "nothing to train", file=sys.stderr)
    else:
        if done and chief:
            where = f"step {in_epoch} of epoch {epoch + 1}" if in_epoch else f"the end of epoch {epoch}"
            print(f"kerasgan: resuming {run_dir} from {where} (step {done})", file=sys.stderr)
        labels = bool(run_config["model"].get("num_classes"))
        extra = dict(kind.dataset_arguments(run_config["data"]), labels=labels)

        def data(start_epoch, start_step=0):
            return source.dataset(
                batch_size, shuffle=True, seed=run_config["seed"],
                flip=run_config["data"].get("flip", False), repeat=True,
                start_epoch=start_epoch, start_step=start_step, **extra,
            )

        csv_path = os.path.join(run_dir, "history.csv")

        def callbacks(first_call):
            # order: health before anything that saves; diversity before the CSV log
            preview = kind.preview(source, 8)
            if gan.spec.kind == TOKEN_SEQUENCE:
                # sentences from a fixed seed each epoch, and their distinct share
                out = [HealthCheck()]
                grid = TextSamples(os.path.join(run_dir, "samples"), n=64,
                                   seed=int(run_config["seed"]))
            elif preview is not None:
                # a translation's diversity is the data's: no collapse signal; the
                # grid shows (input, output, target) rows of the first examples
                # (the target only where the data has one)
                out = [HealthCheck()]
                grid = TripletGrid(os.path.join(run_dir, "samples"), *preview)
            else:
                out = [HealthCheck(), Diversity(real_images=source.images,
                                                seed=int(run_config["seed"]))]
                grid = SampleGrid(os.path.join(run_dir, "samples"), n=64, seed=run_config["seed"])
            if getattr(gan, "rt_tracker", None) is not None:
                out.append(Overfitting())  # r_t: the discriminator over-fitting
            if chief:
                out += [
                    grid,
                    keras.callbacks.CSVLogger(csv_path, append=done > 0 or not first_call),
                    LossCurve(os.path.join(run_dir, "loss_curve.png"), csv_path=csv_path,
                              title=f"{run_config['family']} on {run_config['data']['source']}"),
                ]
                if tensorboard:
                    out.append(keras.callbacks.TensorBoard(tensorboard))
            out += list(extra_callbacks)
            out.append(Backup(backup_dir, steps, backup_every, sigterm=sigterm))
            return out

        single_worker = not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        with _SigtermFlag().installed(single_worker) as sigterm:
            _fit_from(gan, epoch, in_epoch, epochs, steps, state, data, callbacks, verbose)
    save_final(gan, own_dir)
    return gan


def _fit_from(gan, epoch, in_epoch, epochs, steps, state, data, callbacks, verbose):
    """``fit`` from (epoch, step in epoch) to the end of ``epochs``."""
    if in_epoch:
        # finish the interrupted epoch with its remaining batches, then go on
        gan.fit(data(epoch, in_epoch), epochs=epoch + 1, initial_epoch=epoch,
                steps_per_epoch=steps - in_epoch, verbose=verbose, shuffle=False,
                callbacks=[_RestoreTrackers(state.get("trackers")), *callbacks(True)])
        epoch += 1
    if epoch < epochs:
        gan.fit(data(epoch), epochs=epochs, initial_epoch=epoch, steps_per_epoch=steps,
                callbacks=callbacks(not in_epoch), verbose=verbose, shuffle=False)


def save_final(gan, run_dir):
    atomic_write(os.path.join(run_dir, "gan.keras"), gan.save, suffix=".keras")
    atomic_write(os.path.join(run_dir, "generator.keras"), gan.sampling_generator.save,
                 suffix=".keras")


def load_keras_file(path):
    """``keras.saving.load_model(path)`` with one clear error for a damaged file.

    Raises:
        RunError: the file is not a readable ``.keras`` archive (truncated,
            overwritten, or not a Keras file at all).
    """
    import zipfile

    if not zipfile.is_zipfile(path):
        raise RunError(
            f"{path} is not a readable .keras file (not a zip archive: truncated or "
            "overwritten?): train again, or use the run's backup/ (delete the damaged file "
            "and `kerasgan sample` the run folder)"
        )
    try:
        return keras.saving.load_model(path)
    except (zipfile.BadZipFile, OSError, KeyError, EOFError) as e:
        raise RunError(f"{path} is a damaged .keras file ({type(e).__name__}: {e}): "
                       "train again or use the run's backup/") from None


def load_run(run_dir):
    """Loads the GAN of a run folder (``gan.keras``, else its last backup).

    Raises:
        RunError: the folder is not a run, or holds no trained state yet.
    """
    run_dir = os.fspath(run_dir)
    if os.path.isfile(run_dir) and run_dir.endswith(".keras"):
        return load_keras_file(run_dir)
    run_path = os.path.join(run_dir, RUN_FILE)
    if not os.path.exists(run_path):
        raise RunError(
            f"{run_dir} is not a kerasgan run (no {RUN_FILE}): pass the --out folder "
            "of `kerasgan train` or a .keras file"
        )
    final = os.path.join(run_dir, "gan.keras")
    if os.path.exists(final):
        return load_keras_file(final)
    if list_backups(os.path.join(run_dir, BACKUP_DIR)):
        gan = build_gan(read_json(run_path), tf.distribute.get_strategy())
        load_backup(gan, os.path.join(run_dir, BACKUP_DIR))
        return gan
    raise RunError(f"{run_dir} has no trained state yet: train until its first backup")
