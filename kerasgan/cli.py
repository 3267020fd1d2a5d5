"""The ``kerasgan`` command.

::

    kerasgan train FAMILY [--data SOURCE] [--epochs N] [--batch-size B] --out RUN_DIR
                          [--seed S] [--strategy auto|one-device|mirrored|multi-worker]
                          [data options of the family's batch kind] [the family's options]
    kerasgan train FAMILY --help          the family's options, with defaults
    kerasgan sample RUN_DIR_OR_KERAS_FILE --n 64 --seed 0 --out grid.png
    kerasgan export RUN_DIR_OR_KERAS_FILE --format onnx|saved_model|all --out DIR
    kerasgan evaluate RUN_DIR_OR_KERAS_FILE --metrics fid10k,kid10k [--data SOURCE]
    kerasgan families [--details]
    kerasgan zoo list|info|download|sample|export|pack ...

Every family goes through the same code: its options, the data options of its
batch kind and the "does not apply" errors come from its spec
(:class:`kerasgan.spec.FamilySpec`). This module names no family.

Bad input prints one line, ``kerasgan: error: ...``, and exits with status 2.
TensorFlow's start-up messages are kept out of the output unless ``--verbose``;
``--help``, ``--version`` and ``families`` answer without importing TensorFlow.
"""

import argparse
import ast
import contextlib
import os
import sys
import tempfile

from kerasgan.kit.synthetic import FORMATS
from kerasgan.spec import (ENCODER_TRANSLATION, LABELS_NONE, LABELS_REQUIRED, TOKEN_SEQUENCE,
                           OptionError)

#: what each kind is called in messages
_KIND_WORDS = {"latent_to_image": "noise-to-image families",
               "image_to_image": "image-to-image families",
               "token_sequence": "token-sequence families",
               "encoder_translation": "encoder-based translation families"}
#: sample options that fix a named generator input (a family declares the ones
#: it takes in ``spec.sample_options``)
SAMPLE_CODES = ("truncation_psi",)
#: images a sample grid may hold (a 4096 x 4096 grid of 64-pixel images is 3 GB)
MAX_SAMPLES = 16384


class CLIError(ValueError):
    """Bad command-line input; the message says what to do."""


# ------------------------------------------------------------ quiet start-up
@contextlib.contextmanager
def _quiet_stderr(verbose):
    """Sends what C++ libraries write to stderr meanwhile to a temporary file
    (TensorFlow's oneDNN / CUDA start-up lines), shown again only on failure."""
    if verbose:
        yield
        return
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no real stderr (embedded): nothing to hide
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _start_tensorflow(verbose=False, devices=True):
    """Imports TensorFlow, quietly unless ``verbose``, and initialises its
    devices when ``devices`` (not before ``train`` has made its strategy: a
    multi-worker strategy must exist before TensorFlow's runtime starts)."""
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _quiet_stderr(verbose):
        import tensorflow as tf

        if devices:
            tf.config.list_logical_devices()
        if not verbose:
            tf.get_logger().setLevel("ERROR")


# ------------------------------------------------------------ families, TF-free
def _models_dir():
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "models")


def _declared_families():
    """``{name: summary}`` of the families under ``kerasgan/models/``, read from
    the source (each ``@register("name")`` class and its spec's ``summary``)
    without importing TensorFlow; families registered at run time (a plug-in,
    a test) are added when the registry is loaded."""
    found = {}
    folder = _models_dir()
    for fname in sorted(os.listdir(folder)):
        if not fname.endswith(".py"):
            continue
        with open(os.path.join(folder, fname), encoding="utf-8") as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            for deco in node.decorator_list:
                if (isinstance(deco, ast.Call) and getattr(deco.func, "id", None) == "register"
                        and deco.args and isinstance(deco.args[0], ast.Constant)):
                    found[deco.args[0].value] = _summary(node)
    models = sys.modules.get("kerasgan.models")
    if models is not None:
        for name in models.names():
            found.setdefault(name, models.get_class(name).spec.summary)
    return dict(sorted(found.items()))


def _summary(class_node):
    for stmt in class_node.body:
        if isinstance(stmt, ast.Assign) and any(getattr(t, "id", None) == "spec"
                                                for t in stmt.targets):
            for kw in getattr(stmt.value, "keywords", []):
                if kw.arg == "summary":
                    try:
                        return ast.literal_eval(kw.value)
                    except ValueError:
                        return ""
    return ""


def _registry():
    from kerasgan import models

    return models


def _family_class(name):
    models = _registry()
    try:
        return models.get_class(name)
    except ValueError as e:
        raise CLIError(str(e)) from None


# ------------------------------------------------------------ parsers
def _positive(name, low=1):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer, got {text!r}")
        if value < low:
            raise argparse.ArgumentTypeError(f"{name} must be at least {low}, got {value}")
        return value

    return parse


def _non_negative(name):
    return _positive(name, low=0)


def _option_type(option):
    def parse(text):
        try:
            return option.parse(text)
        except OptionError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    parse.__name__ = option.type.__name__
    return parse


def _add_option(group, option, default=None, recommended=None):
    """Adds a spec option to an argparse group (value None: not given)."""
    text = option.describe()
    if recommended is not None:
        text += "; recommended" + ("" if option.type is bool else f": {recommended}")
    if option.type is bool:
        group.add_argument(option.flag, action="store_true", default=None, help=text)
        return
    group.add_argument(option.flag, type=_option_type(option), default=default,
                       metavar=option.metavar or (
                           "{" + ",".join(map(str, option.choices)) + "}" if option.choices
                           else option.name.upper()),
                       choices=None, help=text)


def _add_run_options(t, recommended):
    def rec(key):
        return f" (recommended for this family: {recommended[key]})" if key in recommended else ""

    t.add_argument("--data", default="mnist-10k",
                   help="mnist-10k (bundled, default), tfds:NAME, an IDX folder, an image "
                        "folder or a .npz file (see docs/data.md)")
    t.add_argument("--split", default="train",
                   help="split of the data (default: %(default)s)")
    t.add_argument("--epochs", type=_positive("--epochs"), default=5,
                   help="epochs (default: %(default)s)" + rec("epochs"))
    t.add_argument("--batch-size", type=_positive("--batch-size"), default=128,
                   help="global batch size (default: %(default)s)" + rec("batch_size"))
    t.add_argument("--out", required=True,
                   help="run folder (created; resumed if it holds this run)")
    t.add_argument("--seed", type=int, default=0, help="seed of the run (default: %(default)s)")
    t.add_argument("--strategy", default="auto",
                   choices=["auto", "one-device", "mirrored", "multi-worker"],
                   help="tf.distribute strategy; multi-worker: MultiWorkerMirroredStrategy over "
                        "the machines in TF_CONFIG (see docs/scale_out.md) (default: %(default)s)")
    t.add_argument("--collective", default="auto", choices=["auto", "nccl", "ring"],
                   help="all-reduce of --strategy multi-worker: nccl on GPUs, ring over gRPC")
    t.add_argument("--jit-compile", action=argparse.BooleanOptionalAction, default=None,
                   help="compile the train step with XLA, or not (--no-jit-compile); "
                        "default: the CPU configuration's choice (kerasgan/cpu.py: off where "
                        "oneDNN is on), and a resumed run keeps what it started with")
    t.add_argument("--precision", default="float32",
                   choices=["float32", "mixed_float16", "mixed_bfloat16"],
                   help="mixed precision policy (see docs/mixed_precision.md) "
                        "(default: %(default)s)")
    t.add_argument("--backup-every", type=int, default=None, metavar="STEPS",
                   help="generator steps between backups inside an epoch (default 500; "
                        "0: only at epoch ends)")
    t.add_argument("--tensorboard", default=None, metavar="DIR",
                   help="also log every epoch's losses, r_t and ADA's p to TensorBoard in DIR")
    t.add_argument("--quiet", action="store_true", help="no progress bar")


def _train_parser(sub, cls=None):
    """The ``train`` parser: run options, and with ``cls`` that family's data
    and model options, generated from its spec."""
    if cls is None:
        families = _declared_families()
        listing = "\n".join(f"  {name:<10} {text}" for name, text in families.items())
        t = sub.add_parser(
            "train", help="train a GAN family (resumes an interrupted run)",
            formatter_class=argparse.RawDescriptionHelpFormatter,
            description="Train a family; `kerasgan train FAMILY --help` lists its options.",
            epilog="families:\n" + listing)
        t.add_argument("family", help="a registered family (see `kerasgan families`)")
        _add_run_options(t, {})
        return t
    spec = cls.spec
    t = sub.add_parser("train", help="train a GAN family",
                       description=f"{cls.family}: {spec.summary}")
    t.add_argument("family", help=cls.family)
    _add_run_options(t, spec.recommended)
    data = t.add_argument_group(f"data options ({spec.batch} batches)")
    for option in _data_options(spec):
        _add_option(data, option, recommended=spec.recommended.get(option.name))
    if spec.labels != LABELS_NONE:
        data.add_argument("--no-labels", action="store_true",
                          help="train unconditionally even when the data has labels"
                               + (" (refused: this family needs labels)"
                                  if spec.labels == LABELS_REQUIRED else ""))
    group = t.add_argument_group(f"{cls.family} options")
    for option in spec.options:
        _add_option(group, option, recommended=spec.recommended.get(option.name))
    return t


def _data_options(spec):
    from kerasgan.data.batches import batch_kind

    return [o for o in batch_kind(spec.batch).options if o.name not in spec.excluded_data_options]


def _sample_options(parser):
    """``--label`` and every family's sample options (``--truncation-psi``)."""
    parser.add_argument("--label", type=int,
                        help="class of every sample (class-conditional families; default: one "
                             "row per class)")
    parser.add_argument("--truncation-psi", type=float, metavar="PSI",
                        help="truncation, for families whose generator takes it: 1 none, 0 the "
                             "average image, e.g. 0.7")


def build_parser(argv=()):
    """The command's parser; the ``train`` sub-parser carries the options of
    the family named in ``argv`` (``kerasgan train FAMILY ...``)."""
    parser = argparse.ArgumentParser(
        prog="kerasgan", description="Train, sample, export and evaluate GANs with Keras.")
    parser.add_argument("--version", action="store_true", help="print versions and exit")
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's start-up messages")
    sub = parser.add_subparsers(dest="command")

    argv = list(argv)
    cls = None
    if len(argv) > 1 and argv[0] == "train" and not argv[1].startswith("-"):
        cls = _family_class(argv[1])
    _train_parser(sub, cls)

    s = sub.add_parser("sample", help="write a PNG grid of samples from a run (text runs: "
                                      "print sentences and write them to a file)")
    s.add_argument("run", help="a run folder from `kerasgan train`, or a .keras file")
    s.add_argument("--n", type=_positive("--n"), default=64,
                   help=f"number of samples, at most {MAX_SAMPLES} (default: %(default)s)")
    s.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    s.add_argument("--out", default=None,
                   help="grid.png by default; text runs: a text file, samples.txt by default")
    s.add_argument("--temperature", type=float, default=None,
                   help="text runs: sampling temperature > 0 (default 1.0; lower is more "
                        "conservative)")
    s.add_argument("--scale", type=_positive("--scale"), default=1, help="upscale the PNG")
    _sample_options(s)
    s.add_argument("--data", help="image-to-image runs: the data to translate (default: the "
                                  "run's, with its options)")
    s.add_argument("--split", default=None,
                   help="image-to-image runs: split of the data (default test, else the run's)")

    e = sub.add_parser("export", help="export a run's generator to ONNX and/or SavedModel")
    e.add_argument("run", help="a run folder from `kerasgan train`, or a .keras file")
    e.add_argument("--format", default="all", choices=["onnx", "saved_model", "all"])
    e.add_argument("--out", required=True, help="folder for NAME.onnx and NAME_savedmodel/")
    e.add_argument("--name", help="file name stem (default: the family; FAMILY_BtoA for "
                                  "--direction BtoA)")
    e.add_argument("--direction", choices=["AtoB", "BtoA"],
                   help="two-way families: which generator (default AtoB)")
    e.add_argument("--opset", type=_positive("--opset"), default=None, help="ONNX opset")
    e.add_argument("--no-check", action="store_true",
                   help="skip the parity and onnx.checker checks (not recommended)")

    v = sub.add_parser("evaluate", help="quality metrics (FID, KID, IS, ...) of a run's generator")
    v.add_argument("run", help="a run folder from `kerasgan train`, or a .keras file")
    v.add_argument("--metrics", required=True,
                   help="comma-separated, e.g. fid10k,kid10k or fd10k_mnist (see `kerasgan metrics`)")
    v.add_argument("--data", help="reference data (default: the run's --data)")
    v.add_argument("--split", help="split of --data (default: the run's, else train)")
    v.add_argument("--out", help="write the results as JSON here")
    v.add_argument("--seed", type=int, default=0, help="seed of the generated samples")
    v.add_argument("--num-gen", type=_positive("--num-gen"),
                   help="override the generated-sample count (quick checks)")
    v.add_argument("--batch-size", type=_positive("--batch-size"), default=64)
    v.add_argument("--no-cache", action="store_true", help="recompute the reference statistics")
    v.add_argument("--truncation-psi", type=float, metavar="PSI",
                   help="evaluate samples truncated with PSI (families whose generator takes it)")
    v.add_argument("--temperature", type=float, default=None,
                   help="text runs: sampling temperature > 0 (default 1.0)")
    v.add_argument("--oracle", metavar="NPZ",
                   help="nll_oracle: the oracle LSTM's .npz (the synthetic benchmark of Yu et al. 2017)")

    z = sub.add_parser("zoo", help="pretrained generators: list, info, download, sample, export")
    zsub = z.add_subparsers(dest="zoo_command")
    zsub.add_parser("list", help="the entries")
    for cmd, text in (("info", "an entry's catalog record"), ("download", "fetch and verify")):
        zp = zsub.add_parser(cmd, help=text)
        zp.add_argument("name")
    zs = zsub.add_parser("sample", help="a PNG grid from an entry (text entries: print "
                                        "sentences)")
    zs.add_argument("name")
    zs.add_argument("--n", type=_positive("--n"), default=None,
                    help="samples (default: 64 images, 20 sentences)")
    zs.add_argument("--seed", type=int, default=0)
    zs.add_argument("--out", default=None,
                    help="grid.png by default; text entries: also write the sentences to this "
                         "text file")
    zs.add_argument("--temperature", type=float, default=None,
                    help="text entries: sampling temperature > 0 (default 1.0; lower is more "
                         "conservative)")
    zs.add_argument("--scale", type=_positive("--scale"), default=1)
    _sample_options(zs)
    ze = zsub.add_parser("export", help="export an entry's generator")
    ze.add_argument("name")
    ze.add_argument("--format", default="onnx", choices=["onnx", "saved_model", "all"])
    ze.add_argument("--out", default="exported")
    zk = zsub.add_parser("pack", help="write a run's generator as zoo files; with --metrics "
                                      "the whole entry: sample, card, catalog (maintainers)")
    zk.add_argument("run", help="a run folder")
    zk.add_argument("--name", required=True, help="entry name, e.g. FAMILY-DATASET")
    zk.add_argument("--out", default="zoo", help="the zoo folder (default: ./zoo)")
    zk.add_argument("--metrics", help="metrics.json of `kerasgan evaluate RUN --out`: write the "
                                      "sample, the card and the catalog entry too")
    zk.add_argument("--train-seconds", type=float, help="with --metrics: the training's wall time")
    zk.add_argument("--paper", help="with --metrics: the paper (default: the family's references)")
    zk.add_argument("--description", default="", help="with --metrics: a paragraph for the card")
    zk.add_argument("--url", help="with --metrics: published base URL of the files")
    zk.add_argument("--catalog", help="with --metrics: the catalog to update (default: the "
                                      "checkout's kerasgan/zoo/catalog.json for its zoo/, else "
                                      "OUT/catalog.json)")

    g = sub.add_parser(
        "generate", help="write a synthetic dataset of any size: PNG files in class folders, "
                         "or .npz / TFRecord shards; streamed, resumable, with a manifest",
        description="Writes --n generated samples to --out, streamed in bounded memory with a "
                    "progress bar; run the same command again after an interruption to go on. "
                    "Block b of --batch samples is drawn from seed [SEED, b], so sample i is "
                    "the same however many runs wrote it. --out/manifest.json lists the "
                    "counts, the seed, the generator's weights sha256 and each shard's sha256.")
    g.add_argument("source", help="a run folder (or .keras file) or a zoo entry name")
    g.add_argument("--n", type=_positive("--n"), default=None,
                   help="samples to write (translators: default, all --inputs)")
    g.add_argument("--out", required=True, help="the dataset folder (new, empty, or one to "
                                                 "resume)")
    g.add_argument("--format", choices=FORMATS, default="folder",
                   help="PNG files (one subfolder per class for a conditional model), or "
                        ".npz / TFRecord shards (default: %(default)s)")
    g.add_argument("--seed", type=_non_negative("--seed"), default=0,
                   help="(default: %(default)s)")
    g.add_argument("--label", default=None,
                   help="conditional models: a class for every sample, or balanced (the "
                        "default: sample i has class i mod the number of classes)")
    g.add_argument("--batch", type=_positive("--batch"), default=64,
                   help="samples per block, the seed rule's unit (default: %(default)s)")
    g.add_argument("--shard-size", type=_positive("--shard-size"), default=None,
                   help="samples per shard, a multiple of --batch (default: about 64 MB of "
                        "pixels; folder: about 1024 files)")
    g.add_argument("--inputs", default=None,
                   help="translators: the images to translate (.npy of NHWC images or a "
                        "folder of images); each sample keeps its input")
    g.add_argument("--verify", action="store_true",
                   help="on resume, re-hash every complete shard against the manifest")
    g.add_argument("--quiet", action="store_true", help="no progress bar")

    sub.add_parser("serve", add_help=False,
                   help="serve an exported .onnx generator over HTTP (the kit's serve.py; "
                        "`kerasgan serve --help` lists its options)")
    sub.add_parser("metrics", help="list the registered metrics")
    f = sub.add_parser("families", help="list the registered GAN families")
    f.add_argument("--details", action="store_true",
                   help="with each family's kind, batch and summary")
    return parser


# ------------------------------------------------------------ train
def _not_applicable(flag, cls):
    """The error for a known option ``flag`` that ``cls``'s spec does not have."""
    from kerasgan.data.batches import all_options

    name = flag[2:].replace("-", "_")
    models = _registry()
    owners = []
    for other in models.names():
        spec = models.get_class(other).spec
        if (spec.option(name) is not None or name in {o.name for o in _data_options(spec)}
                or (name == "no_labels" and spec.labels != LABELS_NONE)):
            owners.append(other)
    if not owners and name not in all_options():
        return None
    own = [o.name for o in cls.spec.options]
    similar = [f"--{o.replace('_', '-')}" for o in own if o != name and (o in name or name in o)]
    if similar:
        return f"{flag} does not apply to {cls.family}: use {' / '.join(similar)}"
    kinds = {models.get_class(o).spec.kind for o in owners}
    where = ", ".join(owners)
    if len(kinds) == 1 and len(owners) > 1:
        where = f"{_KIND_WORDS[kinds.pop()]} ({where})"
    elif len(owners) > 1 and all(models.get_class(o).spec.image_to_image for o in owners):
        # the image -> image kind and the encoder-based one: both translate images
        where = f"{_KIND_WORDS['image_to_image']} ({where})"
    return f"{flag} does not apply to {cls.family}: it is an option of {where}"


def _parse_train(parser, argv):
    """``parse_args`` for ``train``: an option of another family or batch kind
    is one line saying it does not apply (generated from the specs)."""
    args, rest = parser.parse_known_args(argv)
    if rest:
        cls = _family_class(args.family)
        for token in rest:
            if token.startswith("--"):
                message = _not_applicable(token.split("=", 1)[0], cls)
                if message:
                    raise CLIError(message)
        parser.parse_args(argv)  # argparse's own error for the rest
    return args


def _train(args):
    from kerasgan import run as runs

    if args.backup_every is not None and args.backup_every < 0:
        raise CLIError(f"--backup-every must be ≥ 0, got {args.backup_every}")
    # first: a multi-worker strategy must exist before TensorFlow runs anything
    if args.collective != "auto" and args.strategy != "multi-worker":
        raise CLIError("--collective applies to --strategy multi-worker only")
    with _quiet_stderr(args.verbose):  # starts TensorFlow's runtime (CUDA probing)
        strategy = runs.make_strategy(args.strategy, args.collective)
    from kerasgan.data.batches import batch_kind

    cls = _family_class(args.family)
    spec = cls.spec
    kind = batch_kind(spec.batch)
    values = {o.name: getattr(args, o.name) for o in _data_options(spec)}
    try:
        data_config = kind.record(args.data, args.split, values)
    except ValueError as e:
        raise CLIError(str(e)) from None
    model = {}
    for option in spec.options:
        value = getattr(args, option.name)
        if value is not None:
            model[option.name] = value
    try:  # the family's own checks of its options (e.g. a weights file that must exist)
        model = cls.check_options(model)
    except ValueError as e:
        raise CLIError(str(e)) from None
    source = kind.open(data_config, args.split)
    if getattr(source, "image_shape", (1,))[-1] not in (1, 3):
        raise CLIError(
            f"{args.data} has {source.image_shape[-1]}-channel images: pass --channels 1 or 3")
    model.update(kind.model_arguments(source, data_config))
    model.update(_class_config(cls, source, args))
    model["seed"] = args.seed
    run_config = {
        "family": cls.family,
        "model": model,
        "data": data_config,
        "batch_size": args.batch_size,
        "epochs": args.epochs,
        "seed": args.seed,
        "jit_compile": _jit_compile(args, cls),
        "precision": args.precision,
    }
    if args.quiet:  # the first fit prints the CPU configuration (kerasgan/cpu.py)
        from kerasgan import cpu

        cpu.announce(quiet=True)
    backup_every = runs.DEFAULT_BACKUP_EVERY if args.backup_every is None else args.backup_every
    runs.train(run_config, args.out, source, strategy=strategy, strategy_name=args.strategy,
               verbose=0 if args.quiet else "auto", backup_every=backup_every,
               tensorboard=args.tensorboard)
    print(f"kerasgan: run written to {args.out} (samples/, history.csv, loss_curve.png, "
          "generator.keras)")


def _jit_compile(args, cls):
    """``--jit-compile`` / ``--no-jit-compile``, else what the run in
    ``--out`` started with, else the CPU configuration's choice on a CPU-only
    machine (off elsewhere, as before)."""
    if args.jit_compile is not None:
        return bool(args.jit_compile)
    from kerasgan.run import RUN_FILE, read_json

    existing = os.path.join(args.out, RUN_FILE)
    if os.path.exists(existing):
        try:
            return bool(read_json(existing).get("jit_compile", False))
        except (OSError, ValueError):
            pass
    from kerasgan.core.adversarial import _cpu_jit_compile

    return bool(cls.cpu_xla_applies and _cpu_jit_compile())


def _class_config(cls, source, args):
    """``num_classes`` for a family that takes class labels, from the data."""
    labels = cls.spec.labels
    if labels == LABELS_NONE:
        return {}
    no_labels = bool(getattr(args, "no_labels", False))
    if no_labels and labels == LABELS_REQUIRED:
        raise CLIError(f"{cls.family} is class-conditional: it cannot train with --no-labels")
    if no_labels:
        return {}
    if getattr(source, "labels", None) is None:
        if labels == LABELS_REQUIRED:
            raise CLIError(
                f"{cls.family} is class-conditional but {args.data} has no labels: use a "
                "source with labels (an IDX folder with its labels file, class subfolders, "
                "a .npz with 'labels', a TFDS dataset)")
        return {}
    return {"num_classes": int(source.num_classes)}


# ------------------------------------------------------------ sample
def _check_exists(path):
    if not os.path.exists(path):
        raise CLIError(f"{path} does not exist: pass a run folder or a .keras file")


def _load(path):
    """The model of a run folder or ``.keras`` file, and the run's record."""
    from kerasgan import run as runs

    _check_exists(path)
    return runs.load_run(path), runs.RunRecord.find(path)


def _sample(args):
    _check_count(args.n)
    if args.temperature is not None:
        _check_temperature(args.temperature)
    text_out = args.out is not None and not str(args.out).lower().endswith(".png")
    if not text_out:
        args.out = args.out or "grid.png"
        _check_png_out(args.out)
    elif os.path.isdir(args.out):
        raise CLIError(f"--out {args.out} is a folder: pass a file path")
    gan, record = _load(args.run)
    if not hasattr(gan, "generate") or not hasattr(gan, "spec"):
        raise CLIError(f"{args.run} holds a {type(gan).__name__}, not a kerasgan GAN")
    if gan.spec.kind == TOKEN_SEQUENCE:
        return _sample_text(gan, args)
    if text_out:
        raise CLIError(f"--out {args.out} must end in .png (the grid is a PNG image)")
    if args.temperature is not None:
        raise CLIError(f"--temperature applies to token-sequence (text) runs, not {gan.family}")
    from kerasgan.data.batches import batch_kind

    kind = batch_kind(gan.spec.batch)
    if gan.spec.image_to_image:
        if args.label is not None:
            raise CLIError(f"{args.run} is an unconditional {gan.family}: it takes no --label")
        _sample_codes(gan, args, args.run)
        from kerasgan import run as runs
        from kerasgan.images import save_grid

        if record is None and not args.data:
            raise CLIError(f"{args.run} translates images: pass --data, the images to "
                           "translate")
        data = record.data if record is not None else {}
        source = runs.open_data(gan.spec.batch, data, split=args.split, source=args.data)
        inputs, targets = kind.preview(source, args.n)
        if hasattr(gan, "attribute_grid"):  # many outputs per input: attributes across
            images, nrow = gan.attribute_grid(inputs, n=4, seed=args.seed)
            what = f"input, {nrow - 1} translations with random attributes (seed {args.seed})"
        else:
            images, nrow = gan.triplets(inputs, targets)
            what = "input, output" + (", target" if targets is not None else "")
        save_grid(images, args.out, nrow=nrow, scale=args.scale)
        print(f"kerasgan: wrote {len(inputs)} rows of {nrow} images ({what}) to {args.out}")
        return
    if args.data or args.split:
        raise CLIError("--data and --split apply to image-to-image runs")
    count = _write_samples(gan, args, args.run)
    print(f"kerasgan: wrote {count} samples to {args.out}")


def _check_temperature(value):
    import math

    if not math.isfinite(value) or value <= 0:
        raise CLIError(f"--temperature must be a number > 0 (1.0 samples the model as "
                       f"trained, lower is more conservative), got {value}")


def _sample_text(gan, args):
    """``kerasgan sample`` of a token-sequence run: prints the sentences and
    writes them, one a line, to ``--out`` (samples.txt by default)."""
    from kerasgan.images import atomic_write

    for flag, value in (("--label", args.label), ("--truncation-psi", args.truncation_psi),
                        ("--data", args.data), ("--split", args.split)):
        if value is not None:
            raise CLIError(f"{flag} does not apply to a {gan.family} (text) run")
    if args.scale != 1:
        raise CLIError(f"--scale does not apply to a {gan.family} (text) run")
    out = args.out or "samples.txt"
    if out.lower().endswith(".png"):
        raise CLIError(f"--out {out}: a {gan.family} run writes sentences: pass a text file "
                       "path, e.g. samples.txt")
    temperature = 1.0 if args.temperature is None else args.temperature
    samples = gan.generate(args.n, seed=args.seed, temperature=temperature)

    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("\n".join(samples.texts) + "\n")

    atomic_write(out, write)
    print("\n".join(samples.texts), flush=True)
    print(f"kerasgan: wrote {len(samples.texts)} sentences (seed {args.seed}, temperature "
          f"{temperature:g}) to {out}", file=sys.stderr)


def _check_count(n):
    """Refuses a sample count that would not fit in memory, before any work."""
    if n > MAX_SAMPLES:
        raise CLIError(f"--n {n} is more samples than a grid can hold (at most {MAX_SAMPLES}): "
                       "to write many samples, call generate() in batches from Python")


def _check_png_out(path):
    """Refuses an output path that cannot take a PNG grid, before any work."""
    if not str(path).lower().endswith(".png"):
        raise CLIError(f"--out {path} must end in .png (the grid is a PNG image)")
    if os.path.isdir(path):
        raise CLIError(f"--out {path} is a folder: pass a .png file path")


def _sample_codes(gan, args, what):
    """The named generator inputs the sample options fix (``truncation_psi``)."""
    import math

    codes = {}
    spec_names = {o.name for o in gan.spec.sample_options}
    for name in SAMPLE_CODES:
        value = getattr(args, name, None)
        if value is None:
            continue
        flag = "--" + name.replace("_", "-")
        if name not in spec_names:
            models = _registry()
            owners = [n for n in models.names()
                      if models.get_class(n).spec.option(name) is not None]
            raise CLIError(f"{what} is a {gan.family} model: {flag} applies to "
                           f"{', '.join(owners) or 'no family'}")
        if not math.isfinite(value):
            raise CLIError(f"{flag} must be a finite number, got {value}")
        codes[name] = value
    return codes


def _write_samples(gan, args, what):
    """The PNG grid of ``kerasgan sample`` / ``zoo sample``; returns the count."""
    from kerasgan.images import save_grid

    codes = _sample_codes(gan, args, what)
    if args.label is not None:
        if not gan.num_classes:
            raise CLIError(f"{what} is an unconditional {gan.family}: it takes no --label")
        if not 0 <= args.label < gan.num_classes:
            raise CLIError(f"--label must be a class in [0, {gan.num_classes}), got {args.label}")
        images, nrow = gan.generate(args.n, seed=args.seed, labels=args.label,
                                    codes=codes or None), None
    elif codes:
        images, nrow = gan.generate(args.n, seed=args.seed, codes=codes), None
    else:
        images, nrow = gan.sample_grid(args.n, seed=args.seed)
    save_grid(images, args.out, nrow=nrow, scale=args.scale)
    return len(images)


# ------------------------------------------------------------ export
def _export(args):
    import keras

    from kerasgan import export

    gan, record = _load(args.run)
    if not isinstance(gan, keras.Model):
        raise CLIError(f"{args.run} holds a {type(gan).__name__}, not a GAN or a generator")
    formats = export.exporters.FORMATS if args.format == "all" else (args.format,)
    kwargs = {"dataset": record.source if record else None,
              "family": record.family if record else None, "check": not args.no_check}
    if args.direction:
        spec = getattr(gan, "spec", None)
        if spec is None or not spec.directions:
            raise CLIError(f"--direction applies to two-way families, not "
                           f"{getattr(gan, 'family', type(gan).__name__)}")
        kwargs["direction"] = args.direction
    if args.opset is not None:
        if "onnx" not in formats:
            raise CLIError("--opset applies to --format onnx or all")
        kwargs["opset"] = args.opset
    for report in export.export(gan, args.out, formats=formats, name=args.name, **kwargs):
        parity = report["parity"]
        check = ("not checked" if parity is None else "parity max abs diff "
                 + ", ".join(f"{k} {v:.2g}" for k, v in parity.items() if k != "seed"))
        print(f"kerasgan: wrote {report['path']} ({check})")


# ------------------------------------------------------------ evaluate
def _evaluate(args):
    from kerasgan import metrics
    from kerasgan import run as runs
    from kerasgan.version import __version__

    _check_exists(args.run)
    if args.out and os.path.isdir(args.out):
        raise CLIError(f"--out {args.out} is a folder: pass a .json file path")
    names = [m.strip() for m in args.metrics.split(",") if m.strip()]
    from kerasgan.metrics.paired import PAIRED_METRICS

    if names and set(names) <= set(PAIRED_METRICS):
        return _evaluate_paired(args, names)
    if names and set(names) <= set(TEXT_METRICS):
        return _evaluate_text(args, names)
    unknown_text = [n for n in names if n in TEXT_METRICS]
    if unknown_text:
        raise CLIError(f"{', '.join(unknown_text)} score text runs: do not mix them with image "
                       "metrics")
    if args.temperature is not None or args.oracle:
        raise CLIError("--temperature and --oracle apply to the text metrics "
                       f"({', '.join(TEXT_METRICS)})")
    for name in names:
        try:
            metrics.get_metric(name)
        except ValueError as e:
            raise CLIError(str(e)) from None
    record = runs.RunRecord.find(args.run)
    data = args.data or (record.source if record else None)
    split = args.split or (record.data.get("split") if record and not args.data else None) \
        or "train"
    model = runs.load_run(args.run)
    if args.truncation_psi is not None:
        model = _coded_sampler(model, _sample_codes(model, args, args.run))
    about = {"run": os.path.abspath(args.run), "versions": runs.versions(),
             "kerasgan": __version__}

    def write_finished(results):  # each metric as it completes: a later failure loses none
        metrics.write_results({**about, "results": results,
                               "complete": len(results) == len(names)}, args.out)
        if len(results) < len(names):
            print(f"kerasgan: wrote {', '.join(results)} to {args.out}", flush=True)

    results = metrics.evaluate(model, names, data=data, split=split, seed=args.seed,
                               batch_size=args.batch_size, num_gen=args.num_gen,
                               use_cache=not args.no_cache, verbose=True,
                               on_result=write_finished if args.out else None)
    for name, r in results.items():
        extra = "".join(f" {k} {r[k]:.4g}" for k in ("std", "precision", "recall",
                                                     "max_min_ratio", "real_confident") if k in r)
        real = f", {r['num_real']} real ({r['data']}:{r['split']})" if "num_real" in r else ""
        print(f"{name}: {r['value']:.6g}{extra}  [{r['network']}; {r['num_gen']} generated{real}; "
              f"{r['time_s']:.1f} s]")
    if args.out:
        print(f"kerasgan: wrote {args.out}")


#: the metrics of token-sequence runs (see docs/text.md)
TEXT_METRICS = ("bleu", "self_bleu", "nll_oracle", "nll_test")


def _evaluate_text(args, names):
    """``kerasgan evaluate RUN --metrics bleu,self_bleu[,nll_test] [--data REFS]``
    or ``--metrics nll_oracle,nll_test --oracle oracle_lstm.npz``.

    BLEU-2..5 of ``--num-gen`` generated sentences (2,000 by default) against
    every reference sentence (``--data``; default: the run's data, split
    ``test``), self-BLEU-2..5 of the generated sentences; NLL-oracle: the
    oracle's NLL per token of ``--num-gen`` (10,000) samples; NLL-test: the
    model's NLL per token of the references (the oracle's fresh samples, seed
    1, with ``--oracle``)."""
    import time

    from kerasgan import metrics
    from kerasgan import run as runs
    from kerasgan.version import __version__

    model, record = _load(args.run)
    if getattr(model, "spec", None) is None or model.spec.kind != TOKEN_SEQUENCE:
        raise CLIError(f"{', '.join(names)} score text runs: {args.run} is not a "
                       "token-sequence model")
    if args.truncation_psi is not None:
        raise CLIError("--truncation-psi does not apply to a text run")
    temperature = 1.0 if args.temperature is None else args.temperature
    _check_temperature(temperature)
    needs_oracle = "nll_oracle" in names
    if needs_oracle and not args.oracle:
        raise CLIError("nll_oracle needs --oracle, the oracle LSTM's .npz (e.g. "
                       "../shared/data/seqgan-oracle/oracle_lstm.npz)")
    oracle = None
    if args.oracle:
        _check_exists(args.oracle)
        try:
            oracle = metrics.OracleLSTM.load(args.oracle)
        except ValueError as e:
            raise CLIError(str(e)) from None
    results = {}
    t0 = time.time()
    n = args.num_gen or (10000 if oracle is not None else 2000)
    samples = model.generate(n, seed=args.seed, temperature=temperature)
    hyps = [text.split() for text in samples.texts]
    references = None
    if "bleu" in names or ("nll_test" in names and oracle is None):
        if record is None and not args.data:
            raise CLIError(f"{args.run} has no run record: pass --data, the reference sentences")
        data = dict(record.data) if record is not None else {}
        # the references in full (BLEU reads their text; NLL-test their first
        # seq_len tokens, encoded with the model's vocabulary)
        data.update(seq_len=model.seq_len, vocabulary=model.vocabulary.to_json(), truncate=True)
        try:
            source = runs.open_data(model.spec.batch, data, split=args.split or "test",
                                    source=args.data)
        except ValueError as e:
            raise CLIError(str(e)) from None
        references = source
    if "bleu" in names:
        texts = references.texts if references.texts is not None else references.sentences()
        results.update(metrics.bleu_scores(hyps, [t.split() for t in texts]))
    if "self_bleu" in names:
        results.update(metrics.self_bleu(hyps))
    if "nll_oracle" in names:
        results["nll_oracle"] = oracle.nll(samples.ids)
    if "nll_test" in names:
        test = oracle.sample(10000, seed=1) if oracle is not None else references.arrays()
        results["nll_test"] = model.nll(test, temperature=temperature)
    about = {"num_gen": n, "seed": args.seed, "temperature": temperature,
             "references": None if references is None else f"{references.name} "
             f"({len(references)} sentences)", "time_s": round(time.time() - t0, 1)}
    for key, value in results.items():
        print(f"{key}: {value:.4f}")
    print(f"kerasgan: {n} generated sentences (seed {args.seed}, temperature {temperature:g})"
          + (f"; references {about['references']}" if references is not None else ""),
          file=sys.stderr)
    if args.out:
        metrics.write_results({"run": os.path.abspath(args.run), "results": results, **about,
                               "versions": runs.versions(), "kerasgan": __version__}, args.out)
        print(f"kerasgan: wrote {args.out}")


def _evaluate_paired(args, names):
    """``kerasgan evaluate RUN --metrics psnr,ssim [--data PAIRS] [--split test]``:
    the translations of the pairs against their targets, with the trivial
    baselines."""
    from kerasgan import metrics
    from kerasgan import run as runs
    from kerasgan.metrics.paired import baseline_scores, paired_scores
    from kerasgan.version import __version__

    model, record = _load(args.run)
    spec = getattr(model, "spec", None)
    if spec is None or not spec.image_to_image:
        raise CLIError(f"psnr and ssim compare translations with targets: {args.run} is not an "
                       "image-to-image model")
    if record is None and not args.data:
        raise CLIError(f"{args.run} translates images: pass --data, pairs to score")
    data = dict(record.data) if record else {}
    batch = spec.batch
    if batch == "unpaired":  # trained unpaired; scored on aligned pairs (facades: A | B)
        batch = "pairs"
        data.update(unpaired=False, paired=True, source_b=None)
    try:
        source = runs.open_data(batch, data, split=args.split, source=args.data)
    except ValueError as e:
        raise CLIError(f"{e} (psnr and ssim need aligned pairs: an image and its target)") \
            from None
    scores = paired_scores(model, source, batch_size=args.batch_size)
    baselines = baseline_scores(source)
    for name in names:
        base = ", ".join(f"baseline {k} {v[name]:.4g}" for k, v in baselines.items())
        print(f"{name}: {scores[name]:.4g} (std {scores[name + '_std']:.3g}; "
              f"{scores['num_pairs']} pairs of {source.name}; {base})")
    if args.out:
        metrics.write_results({"run": os.path.abspath(args.run), "results": scores,
                               "baselines": baselines, "data": source.name,
                               "versions": runs.versions(), "kerasgan": __version__},
                              args.out)
        print(f"kerasgan: wrote {args.out}")


def _coded_sampler(gan, codes):
    """``sample(n, seed, labels=None)`` of ``gan`` with named inputs fixed by
    ``codes``, the sampler form :func:`kerasgan.metrics.evaluate` takes."""
    def sample(n, seed, labels=None):
        return gan.generate(n, seed=seed, labels=labels, codes=codes)

    sample.image_shape = tuple(gan.generator.output_shape[1:])
    sample.num_classes = gan.num_classes
    return sample


# ------------------------------------------------------------ generate
def _generate(args):
    """``kerasgan generate SOURCE --n N --out DIR``: a synthetic dataset through the
    deployment kit's writer (``kerasgan.kit.synthetic``), from a run or a zoo entry."""
    from kerasgan.export import weights_sha256
    from kerasgan.kit import synthetic

    if args.batch > 4096:
        raise CLIError(f"--batch must be at most 4096, got {args.batch}")
    if os.path.exists(args.source):
        gan, _ = _load(args.source)
        source = {"run": os.path.abspath(args.source)}
    else:
        from kerasgan import zoo

        if args.source not in zoo.list():
            raise CLIError(f"{args.source} is neither a run folder nor a zoo entry (entries: "
                           f"{', '.join(zoo.list())})")
        gan = zoo.from_preset(args.source)
        source = {"zoo": args.source}
    if not hasattr(gan, "spec"):
        raise CLIError(f"{args.source} holds a {type(gan).__name__}, not a kerasgan GAN")
    if gan.spec.kind == TOKEN_SEQUENCE:
        raise CLIError(f"{args.source} makes text ({gan.family}): generate writes images; write "
                       f"sentences with `kerasgan sample {args.source} --n N --out FILE.txt`")
    translates = gan.spec.image_to_image
    inputs = None
    if translates and args.inputs is not None:
        shape = gan.generator.input_shape
        inputs = synthetic.open_inputs(
            args.inputs, channels=None if isinstance(shape, list) else int(shape[-1]))
    n, label_rule = synthetic.resolve_request(
        gan.family, n=args.n, label=args.label, num_classes=gan.num_classes,
        inputs=inputs if translates else args.inputs, translates=translates)
    diverse = gan.spec.kind == ENCODER_TRANSLATION
    input_shape = None if inputs is None else tuple(inputs.shape[1:])
    sample_shape = (synthetic.translated_shape(gan, input_shape, diverse) if translates
                    else tuple(gan.generator.output_shape[1:]))
    generator = getattr(gan, "sampling_generator", gan.generator)
    identity = {"seed": args.seed, "labels": label_rule,
                "model": {"weights_sha256": weights_sha256(generator)}, "family": gan.family,
                "source": source, "writer": "kerasgan generate",
                "inputs": None if inputs is None else os.path.abspath(args.inputs)}
    make_block = synthetic.block_maker(gan, seed=args.seed, batch=args.batch, labels=label_rule,
                                       num_classes=gan.num_classes, inputs=inputs,
                                       diverse=diverse)
    try:
        manifest = synthetic.write_dataset(
            args.out, n, make_block, fmt=args.format, batch=args.batch,
            shard_size=args.shard_size, identity=identity, sample_shape=sample_shape,
            input_shape=input_shape, num_classes=gan.num_classes if label_rule is not None
            else None, class_names=getattr(gan, "class_names", None),
            progress=not args.quiet, verify=args.verify)
    except synthetic.Interrupted as e:
        raise KeyboardInterrupt(str(e)) from None
    print(f"kerasgan: {manifest['count']:,} {gan.family} samples in {args.out} ({args.format}, "
          f"{synthetic.shard_count(manifest)}, seed {args.seed})")


# ------------------------------------------------------------ zoo
def _zoo(args):
    import json

    from kerasgan import models, zoo

    def shape(entry):
        if "sequence" in entry:
            seq = entry["sequence"]
            return (f"sentences of up to {seq['seq_len']} tokens ({seq['vocab_size']:,}-token "
                    "vocabulary)")
        return "x".join(map(str, entry["resolution"]))

    if args.zoo_command in (None, "list"):
        for name in zoo.list():
            entry = zoo.info(name)
            scores = ", ".join(f"{m['metric']} {m['value']:.4g}" for m in entry["metrics"])
            print(f"{name}: {entry['family']} {shape(entry)} "
                  f"on {entry['dataset']['name']}; {scores}")
    elif args.zoo_command == "info":
        print(json.dumps(zoo.info(args.name), indent=2, sort_keys=True))
    elif args.zoo_command == "download":
        for role in zoo.info(args.name)["files"]:
            print(zoo.download(args.name, role=role))
    elif args.zoo_command == "sample":
        entry = zoo.info(args.name)
        spec = models.get_class(entry["family"]).spec
        if spec.image_to_image:
            raise CLIError(
                f"{args.name} translates images ({entry['family']}): load it with "
                f"kerasgan.models.get_class({entry['family']!r}).from_preset({args.name!r}) and "
                "call translate(images), or export it and use export/generate.py --inputs")
        if spec.kind != TOKEN_SEQUENCE:
            if args.temperature is not None:
                raise CLIError(f"--temperature applies to text entries, not {args.name} (a "
                               f"{entry['family']})")
            args.out = args.out or "grid.png"
            args.n = args.n or 64
            _check_png_out(args.out)
            _check_count(args.n)
            count = _write_samples(zoo.from_preset(args.name), args, args.name)
            print(f"kerasgan: wrote {count} samples of {args.name} to {args.out}")
            return
        # a text entry: print the sentences (and write them to --out)
        for flag, value in (("--label", args.label), ("--truncation-psi", args.truncation_psi),
                            ("--scale", None if args.scale == 1 else args.scale)):
            if value is not None:
                raise CLIError(f"{flag} does not apply to {args.name} (a {entry['family']} text "
                               "entry)")
        if args.out is not None and (str(args.out).lower().endswith(".png")
                                     or os.path.isdir(args.out)):
            raise CLIError(f"--out {args.out}: {args.name} writes sentences: pass a text file "
                           "path, e.g. sentences.txt")
        n = args.n or 20
        _check_count(n)
        temperature = 1.0 if args.temperature is None else args.temperature
        _check_temperature(temperature)
        texts = zoo.from_preset(args.name).generate(n, seed=args.seed,
                                                    temperature=temperature).texts
        if args.out is not None:
            from kerasgan.images import atomic_write

            def write(tmp):
                with open(tmp, "w", encoding="utf-8") as f:
                    f.write("\n".join(texts) + "\n")

            atomic_write(args.out, write)
        print("\n".join(texts), flush=True)
        where = f" to {args.out}" if args.out is not None else ""
        print(f"kerasgan: {len(texts)} sentences of {args.name} (seed {args.seed}, temperature "
              f"{temperature:g}){' written' + where if where else ''}", file=sys.stderr)
    elif args.zoo_command == "export":
        from kerasgan import export

        gan = zoo.from_preset(args.name)
        entry = zoo.info(args.name)
        formats = export.exporters.FORMATS if args.format == "all" else (args.format,)
        for report in export.export(gan, args.out, formats=formats, name=args.name,
                                             dataset=entry["dataset"]["name"]):
            print(f"kerasgan: wrote {report['path']}")
    elif args.zoo_command == "pack":
        if args.metrics is None:
            extra = [f for f, v in (("--train-seconds", args.train_seconds),
                                    ("--paper", args.paper), ("--url", args.url),
                                    ("--catalog", args.catalog),
                                    ("--description", args.description or None)) if v is not None]
            if extra:
                raise CLIError(f"{', '.join(extra)} describe the catalog entry: pass --metrics "
                               "too (the metrics.json of `kerasgan evaluate RUN --out`)")
            print(json.dumps(zoo.pack(args.run, args.name, args.out), indent=2))
            return
        if args.train_seconds is None:
            raise CLIError("--metrics writes the catalog entry: pass --train-seconds too, the "
                           "training's wall time")
        from kerasgan.zoo.entry import build_entry, catalog_for

        if not os.path.isfile(args.metrics):
            raise CLIError(f"--metrics {args.metrics} does not exist: write it with `kerasgan "
                           f"evaluate {args.run} --metrics ... --out {args.metrics}`")
        entry = build_entry(args.run, args.name, args.metrics, args.train_seconds,
                            paper=args.paper, description=args.description, url=args.url,
                            zoo_dir=args.out, catalog_path=args.catalog,
                            command="kerasgan zoo pack")
        catalog = args.catalog or catalog_for(args.out)
        for spec in entry["files"].values():
            print(f"kerasgan: wrote {os.path.join(args.out, spec['path'])} (sha256 "
                  f"{spec['sha256']})")
        sample = "samples.txt" if "sequence" in entry else "samples.png"
        print(f"kerasgan: wrote {os.path.join(args.out, args.name, sample)}, "
              f"{os.path.join(args.out, args.name, 'README.md')} and entry {args.name!r} of "
              f"{catalog}")


# ------------------------------------------------------------ main
def _versions():
    """Versions of kerasgan and what it runs on, without importing them."""
    import platform
    from importlib import metadata

    from kerasgan.version import __version__

    out = {"kerasgan": __version__}
    for package in ("tensorflow", "keras"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "not installed"
    out["python"] = platform.python_version()
    return out


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:
        # the deployment kit's service, as `python export/serve.py` runs it: no TensorFlow
        from kerasgan.kit import serve

        return serve.main(argv[1:])
    verbose = "--verbose" in argv
    if argv[:1] == ["train"] and len(argv) > 1 and not argv[1].startswith("-"):
        _start_tensorflow(verbose, devices=False)  # the family's parser imports it
    try:
        parser = build_parser(argv)
        if argv[:1] == ["train"]:
            args = _parse_train(parser, argv)
        else:
            args = parser.parse_args(argv)
    except CLIError as e:
        print(f"kerasgan: error: {e}", file=sys.stderr)
        return 2
    if args.version:
        print(" ".join(f"{k} {v}" for k, v in _versions().items()))
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "families":
        families = _declared_families()
        if args.details:
            models = _registry()
            for name in families:
                spec = models.get_class(name).spec
                print(f"{name:<10} {spec.kind:<16} {spec.batch:<17} {spec.summary}")
        else:
            print("\n".join(families))
        return 0
    _start_tensorflow(verbose, devices=args.command != "train")
    from kerasgan.data import DataError
    from kerasgan.export import ExportError
    from kerasgan.kit.synthetic import DatasetError
    from kerasgan.metrics import MetricInputError
    from kerasgan.zoo.catalog import CatalogError
    from kerasgan.zoo.download import ZooDownloadError
    from kerasgan.run import Preempted, RunError

    try:
        if args.command == "train":
            _train(args)
        elif args.command == "sample":
            _sample(args)
        elif args.command == "export":
            _export(args)
        elif args.command == "evaluate":
            _evaluate(args)
        elif args.command == "zoo":
            _zoo(args)
        elif args.command == "generate":
            _generate(args)
        elif args.command == "metrics":
            from kerasgan.metrics import metric_names

            print("\n".join(metric_names()))
        return 0
    except (CLIError, DataError, RunError, ExportError, MetricInputError, CatalogError,
            ZooDownloadError, DatasetError) as e:
        print(f"kerasgan: error: {e}", file=sys.stderr)
        return 2
    except ValueError as e:
        if str(e).startswith("unknown GAN family"):
            print(f"kerasgan: error: {e}", file=sys.stderr)
            return 2
        raise
    except Preempted as e:
        print(f"kerasgan: {e}", file=sys.stderr)
        return 143
    except KeyboardInterrupt as e:
        print(f"kerasgan: {e}" if str(e) else "kerasgan: interrupted; run the same command "
              "again to resume from the last backup", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
