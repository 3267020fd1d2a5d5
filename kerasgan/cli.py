"""The ``kerasgan`` command.

::

    kerasgan train FAMILY [--data SOURCE] --epochs N --batch-size B --out RUN_DIR
                          [--seed S] [--strategy auto|one-device|mirrored] ...
    kerasgan train pix2pix --data FACADES_DIR --direction BtoA --jitter --flip --resize 128 ...
    kerasgan train cyclegan --data FACADES_DIR [--data-b FOLDER_B] --jitter --flip --resize 128 ...
    kerasgan train srgan --data CIFAR10_DIR --scale 4 --content pixel|vgg19 [--vgg-weights PATH] ...
    kerasgan sample RUN_DIR_OR_KERAS_FILE --n 64 --seed 0 --out grid.png
    kerasgan export RUN_DIR_OR_KERAS_FILE --format onnx|saved_model|all --out DIR
    kerasgan evaluate RUN_DIR_OR_KERAS_FILE --metrics fid10k,kid10k [--data SOURCE] --out metrics.json
    kerasgan families

Bad input prints one line, ``kerasgan: error: ...``, and exits with status 2.
"""

import argparse
import inspect
import os
import sys


class CLIError(ValueError):
    """Bad command-line input; the message says what to do."""


def _parse_size(text):
    if text is None:
        return None
    parts = text.lower().replace(",", "x").split("x")
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        raise CLIError(f"--resize must look like 32 or 64x64, got {text!r}") from None
    if len(sizes) == 1:
        sizes = sizes * 2
    if len(sizes) != 2 or min(sizes) < 1:
        raise CLIError(f"--resize must look like 32 or 64x64, got {text!r}")
    return sizes


def _positive(name):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer, got {text!r}")
        if value < 1:
            raise argparse.ArgumentTypeError(f"{name} must be at least 1, got {value}")
        return value

    return parse


def build_parser():
    parser = argparse.ArgumentParser(
        prog="kerasgan", description="Train and sample GANs with Keras."
    )
    parser.add_argument("--version", action="store_true", help="print versions and exit")
    sub = parser.add_subparsers(dest="command")

    t = sub.add_parser("train", help="train a GAN family (resumes an interrupted run)")
    t.add_argument("family", help="a registered family (see `kerasgan families`)")
    t.add_argument("--data", default="mnist-10k",
                   help="mnist-10k (bundled, default), tfds:NAME, an IDX folder, an image "
                        "folder or a .npz file")
    t.add_argument("--split", default="train", help="split for IDX and TFDS sources")
    t.add_argument("--epochs", type=_positive("--epochs"), default=5)
    t.add_argument("--batch-size", type=_positive("--batch-size"), default=128)
    t.add_argument("--out", required=True, help="run folder (created; resumed if it holds this run)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--strategy", default="auto",
                   choices=["auto", "one-device", "mirrored", "multi-worker"],
                   help="multi-worker: MultiWorkerMirroredStrategy over the machines in "
                        "TF_CONFIG (see docs/scale_out.md)")
    t.add_argument("--collective", default="auto", choices=["auto", "nccl", "ring"],
                   help="all-reduce of --strategy multi-worker: nccl on GPUs, ring over gRPC")
    t.add_argument("--resize", help="resize images, e.g. 32 or 64x64")
    t.add_argument("--channels", type=int, choices=[1, 3], help="convert images to 1 or 3 channels")
    t.add_argument("--flip", action="store_true", help="random horizontal flips")
    t.add_argument("--direction", choices=["AtoB", "BtoA"],
                   help="image-to-image families (pix2pix): --data is a folder of A|B pair "
                        "images; AtoB translates the left half to the right one, BtoA the "
                        "right to the left (facades label map -> photo: BtoA). Default AtoB. "
                        "cyclegan: BtoA swaps the two domains")
    t.add_argument("--jitter", action="store_true",
                   help="pix2pix/cyclegan random jitter: resize to 286/256 of the size, random "
                        "crop back")
    t.add_argument("--data-b", metavar="FOLDER",
                   help="cyclegan: domain B's image folder (--data is then domain A's); without "
                        "it --data is a folder with trainA/ and trainB/, or of A|B pairs whose "
                        "two halves are the domains, shuffled independently")
    t.add_argument("--n-blocks", type=_positive("--n-blocks"),
                   help="cyclegan: residual blocks of the generators (default 9 at 256, 6 "
                        "below); srgan: of the SRResNet (16)")
    t.add_argument("--pool-size", type=int, metavar="N",
                   help="cyclegan: generated images in each history pool (50; 0: none)")
    t.add_argument("--scale", type=_positive("--scale"),
                   help="srgan: up-sampling factor (4): inputs are the --data images "
                        "down-sampled by it (bicubic, antialiased)")
    t.add_argument("--content", choices=["pixel", "vgg19"],
                   help="srgan: content loss: pixel (MSE, default; works offline) or vgg19 "
                        "(VGG54 features; needs local ImageNet weights)")
    t.add_argument("--vgg-weights", metavar="PATH",
                   help="srgan --content vgg19: the VGG19 no-top weights file (default: "
                        "Keras' cache; never downloaded)")
    t.add_argument("--d-layers", type=_positive("--d-layers"),
                   help="pix2pix/cyclegan: PatchGAN stride-2 layers (3: 70x70 patches)")
    t.add_argument("--latent-dim", type=_positive("--latent-dim"), help="size of z")
    t.add_argument("--width", type=_positive("--width"), help="network width (channels)")
    t.add_argument("--g-width", type=_positive("--g-width"),
                   help="generator width, for families with separate widths (sngan)")
    t.add_argument("--d-width", type=_positive("--d-width"),
                   help="discriminator width, for families with separate widths (sngan)")
    t.add_argument("--ema-decay", type=float, help="keep an EMA generator (e.g. 0.999)")
    t.add_argument("--d-steps", type=_positive("--d-steps"), help="discriminator steps per generator step")
    t.add_argument("--channel-base", type=_positive("--channel-base"),
                   help="channels at resolution r: min(channel_base // r, width) (progan, stylegan2)")
    t.add_argument("--stable-images", type=int, metavar="N",
                   help="progressive growing (progan): training images per stabilisation phase")
    t.add_argument("--fade-images", type=int, metavar="N",
                   help="progressive growing (progan): training images per fade-in phase")
    t.add_argument("--r1-gamma", type=float, metavar="GAMMA",
                   help="R1 penalty weight (stylegan2; default by resolution)")
    t.add_argument("--pl-weight", type=float, metavar="W",
                   help="path-length regularisation weight (stylegan2; 2, 0 disables it)")
    t.add_argument("--no-labels", action="store_true",
                   help="train a family that can be either (sngan) unconditionally even when "
                        "the data has labels")
    t.add_argument("--jit-compile", action="store_true", help="compile the train step with XLA")
    t.add_argument("--precision", default="float32",
                   choices=["float32", "mixed_float16", "mixed_bfloat16"],
                   help="mixed precision policy (see docs/mixed_precision.md)")
    t.add_argument("--backup-every", type=int, default=None, metavar="STEPS",
                   help="generator steps between backups inside an epoch (default 500; "
                        "0: only at epoch ends)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")

    s = sub.add_parser("sample", help="write a PNG grid of samples from a run")
    s.add_argument("run", help="a run folder from `kerasgan train`, or a .keras file")
    s.add_argument("--n", type=_positive("--n"), default=64)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", default="grid.png")
    s.add_argument("--scale", type=_positive("--scale"), default=1, help="upscale the PNG")
    s.add_argument("--label", type=int,
                   help="class of every sample (conditional families; default: one row per class)")
    s.add_argument("--truncation-psi", type=float, metavar="PSI",
                   help="truncation (stylegan2): 1 none, 0 the average image, e.g. 0.7")
    s.add_argument("--data", help="pix2pix: the A|B pairs to translate (default: the run's); "
                                  "cyclegan: domain A's images (rows input / A->B / "
                                  "B->A(A->B), and the target for aligned halves)")
    s.add_argument("--split", default=None,
                   help="pix2pix: split of the pairs (default test); rows are input / "
                        "output / target")

    e = sub.add_parser("export", help="export a run's generator to ONNX and/or SavedModel")
    e.add_argument("run", help="a run folder from `kerasgan train`, or a .keras file")
    e.add_argument("--format", default="all", choices=["onnx", "saved_model", "all"])
    e.add_argument("--out", required=True, help="folder for NAME.onnx and NAME_savedmodel/")
    e.add_argument("--name", help="file name stem (default: the family; FAMILY_BtoA for "
                                  "--direction BtoA)")
    e.add_argument("--direction", choices=["AtoB", "BtoA"],
                   help="cyclegan: which generator (default AtoB, G_AB; BtoA: G_BA)")
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
                   help="evaluate samples truncated with PSI (stylegan2), e.g. 0.7")

    z = sub.add_parser("zoo", help="pretrained generators: list, info, download, sample, export")
    zsub = z.add_subparsers(dest="zoo_command")
    zsub.add_parser("list", help="the entries")
    for cmd, text in (("info", "an entry's catalog record"), ("download", "fetch and verify")):
        zp = zsub.add_parser(cmd, help=text)
        zp.add_argument("name")
    zs = zsub.add_parser("sample", help="a PNG grid from an entry")
    zs.add_argument("name")
    zs.add_argument("--n", type=_positive("--n"), default=64)
    zs.add_argument("--seed", type=int, default=0)
    zs.add_argument("--out", default="grid.png")
    zs.add_argument("--scale", type=_positive("--scale"), default=1)
    zs.add_argument("--label", type=int, help="class of every sample (conditional entries)")
    ze = zsub.add_parser("export", help="export an entry's generator")
    ze.add_argument("name")
    ze.add_argument("--format", default="onnx", choices=["onnx", "saved_model", "all"])
    ze.add_argument("--out", default="exported")
    zk = zsub.add_parser("pack", help="write a run's generator as zoo files (maintainers)")
    zk.add_argument("run", help="a run folder")
    zk.add_argument("--name", required=True, help="entry name, e.g. dcgan-mnist")
    zk.add_argument("--out", default="zoo", help="the zoo folder (default: ./zoo)")

    sub.add_parser("metrics", help="list the registered metrics")
    sub.add_parser("families", help="list the registered GAN families")
    return parser


def _build_and_train(args, cls, model, data_config, source, strategy):
    """Builds ``cls(**model)`` once to check the configuration against the data
    (a clear error before any training), then runs (or resumes) the run folder."""
    from kerasgan import run as runs

    try:
        cls(**model)
    except ValueError as e:
        raise CLIError(f"{cls.family} cannot be built for {args.data}: {e}") from None
    import keras

    keras.backend.clear_session()
    run_config = {
        "family": cls.family,
        "model": model,
        "data": data_config,
        "batch_size": args.batch_size,
        "epochs": args.epochs,
        "seed": args.seed,
        "jit_compile": bool(args.jit_compile),
        "precision": args.precision,
    }
    if args.precision == "mixed_float16" and not args.jit_compile:
        import tensorflow as tf

        if not tf.config.list_logical_devices("GPU"):
            print("kerasgan: warning: mixed_float16 on a CPU is about 90x slower than float32 "
                  "(TensorFlow has no fast float16 kernel for convolution weight gradients): "
                  "use --precision mixed_bfloat16 on CPUs (see docs/mixed_precision.md)",
                  file=sys.stderr)
    backup_every = runs.DEFAULT_BACKUP_EVERY if args.backup_every is None else args.backup_every
    runs.train(run_config, args.out, source, strategy=strategy, strategy_name=args.strategy,
               verbose=0 if args.quiet else "auto", backup_every=backup_every)
    print(f"kerasgan: run written to {args.out} (samples/, history.csv, loss_curve.png, "
          "generator.keras)")


def _train(args):
    from kerasgan import run as runs

    if args.backup_every is not None and args.backup_every < 0:
        raise CLIError(f"--backup-every must be ≥ 0, got {args.backup_every}")
    # first: a multi-worker strategy must exist before TensorFlow runs anything
    if args.collective != "auto" and args.strategy != "multi-worker":
        raise CLIError("--collective applies to --strategy multi-worker only")
    strategy = runs.make_strategy(args.strategy, args.collective)
    import kerasgan

    cls = kerasgan.models.get_class(args.family)
    if getattr(cls, "super_resolution", False):
        return _train_super_resolution(args, cls, strategy)
    if args.scale is not None or args.content or args.vgg_weights:
        raise CLIError(f"--scale, --content and --vgg-weights apply to srgan, not {cls.family}")
    if cls.image_conditioned:
        return _train_paired(args, cls, strategy)
    if args.direction or args.jitter:
        raise CLIError(f"--direction and --jitter apply to image-to-image families (pix2pix), "
                       f"not {cls.family}")
    data_config = {
        "source": args.data,
        "split": args.split,
        "resize": _parse_size(args.resize),
        "channels": args.channels,
        "flip": bool(args.flip),
    }
    source = kerasgan.data.open_source(
        args.data, split=args.split, resize=data_config["resize"], channels=args.channels
    )
    if source.image_shape[-1] not in (1, 3):
        raise CLIError(
            f"{args.data} has {source.image_shape[-1]}-channel images: pass --channels 1 or 3"
        )
    model = {"image_shape": list(source.image_shape), "seed": args.seed}
    model.update(_class_config(cls, source, args))

    accepted = inspect.signature(cls.__init__).parameters
    for key in ("latent_dim", "width", "g_width", "d_width", "ema_decay", "d_steps"):
        value = getattr(args, key)
        if value is None:
            continue
        if key not in accepted and key not in ("ema_decay", "d_steps"):
            options = [f"--{k.replace('_', '-')}" for k in ("width", "g_width", "d_width")
                       if k in accepted]
            raise CLIError(f"--{key.replace('_', '-')} does not apply to {cls.family}"
                           + (f": use {' / '.join(options)}" if options else ""))
        model[key] = value
    for key in ("channel_base", "stable_images", "fade_images"):  # progan's options
        value = getattr(args, key)
        if value is not None:
            if key not in accepted:
                raise CLIError(f"--{key.replace('_', '-')} does not apply to {cls.family}")
            model[key] = value
    for key in ("r1_gamma", "pl_weight"):  # stylegan2's options
        value = getattr(args, key)
        if value is not None:
            if key not in accepted:
                raise CLIError(f"--{key.replace('_', '-')} does not apply to {cls.family}")
            model[key] = value
    _build_and_train(args, cls, model, data_config, source, strategy)


def _train_paired(args, cls, strategy):
    """``kerasgan train pix2pix --data FOLDER --direction BtoA --jitter --flip ...``."""
    import kerasgan

    unpaired = bool(getattr(cls, "directions", None))  # cyclegan: two unpaired domains
    for key in ("latent_dim", "g_width", "channel_base", "stable_images", "fade_images",
                "r1_gamma", "pl_weight") + (() if unpaired else ("data_b", "n_blocks",
                                                                  "pool_size")):
        if getattr(args, key) is not None:
            raise CLIError(f"--{key.replace('_', '-')} does not apply to {cls.family}")
    if args.d_steps not in (None, 1):
        raise CLIError(f"{cls.family} makes one discriminator step per generator step: "
                       "--d-steps must be 1")
    direction = args.direction or "AtoB"
    data_config = {"source": args.data, "split": args.split, "resize": _parse_size(args.resize),
                   "channels": args.channels, "flip": bool(args.flip), "direction": direction,
                   "jitter": bool(args.jitter), "paired": not unpaired}
    if unpaired:
        data_config.update(source_b=args.data_b, unpaired=True)
        source = _open_unpaired(data_config, args.split)
        model = {"image_shape": list(source.image_shape), "seed": args.seed}
    else:
        source = kerasgan.data.open_paired(args.data, split=args.split, direction=direction,
                                           resize=data_config["resize"], channels=args.channels)
        model = {"image_shape": list(source.target_shape),
                 "input_channels": source.image_shape[-1], "seed": args.seed}
    for key in ("width", "d_width", "d_layers", "ema_decay") + (
            ("n_blocks", "pool_size") if unpaired else ()):
        if getattr(args, key) is not None:
            model[key] = getattr(args, key)
    _build_and_train(args, cls, model, data_config, source, strategy)


def _train_super_resolution(args, cls, strategy):
    """``kerasgan train srgan --data IMAGES --scale 4 --content pixel|vgg19
    [--vgg-weights PATH] --flip ...``: the images are the high-res targets,
    the inputs their bicubic down-sampling."""
    import kerasgan
    from kerasgan.models.srgan import find_vgg19_weights

    for key in ("latent_dim", "g_width", "channel_base", "stable_images", "fade_images",
                "r1_gamma", "pl_weight", "data_b", "pool_size", "d_layers"):
        if getattr(args, key) is not None:
            raise CLIError(f"--{key.replace('_', '-')} does not apply to {cls.family}")
    if args.direction or args.jitter:
        raise CLIError(f"--direction and --jitter do not apply to {cls.family}: its pairs are "
                       "made by down-sampling (--flip is supported)")
    if args.d_steps not in (None, 1):
        raise CLIError(f"{cls.family} makes one discriminator step per generator step: "
                       "--d-steps must be 1")
    content = args.content or "pixel"
    if args.vgg_weights and content != "vgg19":
        raise CLIError("--vgg-weights applies to --content vgg19")
    model = {"content": content}
    if content == "vgg19":
        try:  # before reading the data: fail fast, never download
            model["vgg_weights"] = find_vgg19_weights(args.vgg_weights)
        except ValueError as e:
            raise CLIError(str(e)) from None
    scale = 4 if args.scale is None else args.scale
    data_config = {"source": args.data, "split": args.split, "resize": _parse_size(args.resize),
                   "channels": args.channels, "flip": bool(args.flip), "scale": scale,
                   "super_resolution": True}
    source = kerasgan.data.open_super_resolution(args.data, scale=scale, split=args.split,
                                                 resize=data_config["resize"],
                                                 channels=args.channels)
    model.update(image_shape=list(source.target_shape), scale=scale, seed=args.seed)
    for key in ("width", "d_width", "n_blocks", "ema_decay"):
        if getattr(args, key) is not None:
            model[key] = getattr(args, key)
    _build_and_train(args, cls, model, data_config, source, strategy)


def _run_data(args, run_path, missing):
    """``(source, data record)`` of a run: ``--data`` or the source its run.json
    names; ``missing`` completes the error when there is neither."""
    from kerasgan import run as runs

    run_dir = run_path if os.path.isdir(run_path) else os.path.dirname(os.path.abspath(run_path))
    record = {}
    if os.path.exists(os.path.join(run_dir, runs.RUN_FILE)):
        record = runs.read_json(os.path.join(run_dir, runs.RUN_FILE)).get("data", {})
    source = getattr(args, "data", None) or record.get("source")
    if not source:
        raise CLIError(f"{run_path} {missing}")
    return source, record


def _super_resolution_source(args, run_path, default_split, scale):
    """The (low-res, high-res) pairs of an srgan run (``--data`` / ``--split``
    override the run's own; the run's resize and channels apply)."""
    import kerasgan

    source, record = _run_data(args, run_path, "is a super-resolution model: pass --data, "
                               "high-res images")
    return kerasgan.data.open_super_resolution(
        source, scale=scale, split=getattr(args, "split", None) or default_split,
        resize=record.get("resize"), channels=record.get("channels"))


def _open_unpaired(data_config, split):
    """The two domains of a cyclegan run (``direction`` BtoA swaps them)."""
    import kerasgan

    source = kerasgan.data.open_unpaired(data_config["source"], data_config.get("source_b"),
                                         split=split, resize=data_config.get("resize"),
                                         channels=data_config.get("channels"))
    if data_config.get("direction", "AtoB") == "BtoA":
        source = kerasgan.data.UnpairedImageSource(
            source.b, source.a, name=f"{source.name}:BtoA", aligned=source.aligned,
            names=source.domain_names[::-1])
    return source


def _paired_source(args, run_path, default_split):
    """The paired data of an image-conditioned run (``--data`` / ``--split``
    override the run's own)."""
    import kerasgan

    source, record = _run_data(args, run_path, "is image-conditioned: pass --data, a folder "
                               "of A|B pairs")
    return kerasgan.data.open_paired(
        source, split=getattr(args, "split", None) or default_split,
        direction=record.get("direction", "AtoB") if not getattr(args, "direction", None)
        else args.direction, resize=record.get("resize"), channels=record.get("channels"))


def _unpaired_source(args, run_path, default_split):
    """The two domains of a cyclegan run (``--data`` / ``--split`` override
    the run's own; ``--data`` alone is then a folder of domain A images, or a
    facades-format folder)."""
    from kerasgan import run as runs

    run_dir = run_path if os.path.isdir(run_path) else os.path.dirname(os.path.abspath(run_path))
    record = {}
    if os.path.exists(os.path.join(run_dir, runs.RUN_FILE)):
        record = runs.read_json(os.path.join(run_dir, runs.RUN_FILE)).get("data", {})
    if getattr(args, "data", None):
        record = dict(record, source=args.data, source_b=None)
    if not record.get("source"):
        raise CLIError(f"{run_path} is image-conditioned: pass --data, a folder of images")
    from kerasgan.data import DataError

    if getattr(args, "split", None):
        return _open_unpaired(record, args.split)
    try:
        return _open_unpaired(record, default_split)
    except DataError:  # no test split (e.g. trainA/ and trainB/ only): the training images
        return _open_unpaired(record, record.get("split") or "train")


def _class_config(cls, source, args):
    """``num_classes`` for a family that takes class labels, from the data."""
    parameter = inspect.signature(cls.__init__).parameters.get("num_classes")
    if parameter is None:
        return {}
    required = parameter.default is not None
    if args.no_labels and required:
        raise CLIError(f"{cls.family} is class-conditional: it cannot train with --no-labels")
    if args.no_labels:
        return {}
    if source.labels is None:
        if required:
            raise CLIError(
                f"{cls.family} is class-conditional but {args.data} has no labels: use a "
                "source with labels (an IDX folder with its labels file, class subfolders, "
                "a .npz with 'labels', a TFDS dataset)")
        return {}
    return {"num_classes": int(source.num_classes)}


def _sample(args):
    from kerasgan import run as runs

    if not os.path.exists(args.run):
        raise CLIError(f"{args.run} does not exist: pass a run folder or a .keras file")
    _check_png_out(args.out)
    gan = runs.load_run(args.run)
    if not hasattr(gan, "generate"):
        raise CLIError(f"{args.run} holds a {type(gan).__name__}, not a kerasgan GAN")
    if getattr(gan, "directions", None):
        from kerasgan.models.image_conditioned import triplet_png

        source = _unpaired_source(args, args.run, "test")
        inputs, targets = source.arrays(0, args.n)
        triplet_png(gan, inputs, targets[: len(inputs)] if source.aligned else None, args.out,
                    scale=args.scale)
        print(f"kerasgan: wrote {len(inputs)} input / A->B / B->A(A->B)"
              + (" / target" if source.aligned else "") + f" rows to {args.out}")
        return
    if getattr(gan, "super_resolution", False):
        from kerasgan.models.image_conditioned import triplet_png

        source = _super_resolution_source(args, args.run, "test", gan.scale)
        inputs, targets = source.arrays(0, args.n)
        triplet_png(gan, inputs, targets, args.out, scale=args.scale)
        print(f"kerasgan: wrote {len(inputs)} input (nearest) / bicubic / output / target rows "
              f"to {args.out}")
        return
    if getattr(gan, "image_conditioned", False):
        from kerasgan.models.image_conditioned import triplet_png

        source = _paired_source(args, args.run, "test")
        inputs, targets = source.arrays(0, args.n)
        triplet_png(gan, inputs, targets, args.out, scale=args.scale)
        print(f"kerasgan: wrote {len(inputs)} input / output / target rows to {args.out}")
        return
    if args.data or args.split:
        raise CLIError("--data and --split apply to image-to-image runs (pix2pix)")
    count = _write_samples(gan, args, args.run)
    print(f"kerasgan: wrote {count} samples to {args.out}")


def _check_png_out(path):
    """Refuses an output path that cannot take a PNG grid, before any work."""
    if not str(path).lower().endswith(".png"):
        raise CLIError(f"--out {path} must end in .png (the grid is a PNG image)")
    if os.path.isdir(path):
        raise CLIError(f"--out {path} is a folder: pass a .png file path")


def _write_samples(gan, args, what):
    """The PNG grid of ``kerasgan sample`` / ``zoo sample``; returns the count."""
    from kerasgan.images import save_grid

    psi = getattr(args, "truncation_psi", None)
    if psi is not None:
        _check_truncation(gan, psi, what)
        images = gan.generate(args.n, seed=args.seed, codes={"truncation_psi": psi})
        save_grid(images, args.out, scale=args.scale)
        return len(images)
    if args.label is not None:
        if not gan.num_classes:
            raise CLIError(f"{what} is an unconditional {gan.family}: it takes no --label")
        if not 0 <= args.label < gan.num_classes:
            raise CLIError(f"--label must be a class in [0, {gan.num_classes}), got {args.label}")
        images, nrow = gan.generate(args.n, seed=args.seed, labels=args.label), None
    else:
        images, nrow = gan.sample_grid(args.n, seed=args.seed)
    save_grid(images, args.out, nrow=nrow, scale=args.scale)
    return len(images)


def _check_truncation(gan, psi, what):
    """Refuses --truncation-psi for a model without that input, or a non-finite value."""
    import math

    if not hasattr(gan, "generator_inputs"):
        raise CLIError(f"{what} holds a bare {type(gan).__name__}: --truncation-psi needs "
                       "a run folder or a GAN .keras file")
    names = [spec["name"] for spec in gan.generator_inputs()]
    if "truncation_psi" not in names:
        raise CLIError(f"{what} is a {gan.family} model: --truncation-psi applies to stylegan2")
    if not math.isfinite(psi):
        raise CLIError(f"--truncation-psi must be a finite number, got {psi}")


def _export(args):
    import keras

    import kerasgan
    from kerasgan import run as runs

    if not os.path.exists(args.run):
        raise CLIError(f"{args.run} does not exist: pass a run folder or a .keras file")
    model = runs.load_run(args.run)
    if not isinstance(model, (kerasgan.GAN, keras.Model)):
        raise CLIError(f"{args.run} holds a {type(model).__name__}, not a GAN or a generator")
    # the run's record (beside a .keras file too) names the family and the data
    run_dir = args.run if os.path.isdir(args.run) else os.path.dirname(os.path.abspath(args.run))
    record = {}
    if os.path.exists(os.path.join(run_dir, runs.RUN_FILE)):
        record = runs.read_json(os.path.join(run_dir, runs.RUN_FILE))
    formats = kerasgan.export.exporters.FORMATS if args.format == "all" else (args.format,)
    kwargs = {"dataset": record.get("data", {}).get("source"), "family": record.get("family"),
              "check": not args.no_check}
    if args.direction:
        if not getattr(model, "directions", None):
            raise CLIError(f"--direction applies to two-way families (cyclegan), not "
                           f"{getattr(model, 'family', type(model).__name__)}")
        kwargs["direction"] = args.direction
    if args.opset is not None:
        if "onnx" not in formats:
            raise CLIError("--opset applies to --format onnx or all")
        kwargs["opset"] = args.opset
    for report in kerasgan.export.export(model, args.out, formats=formats, name=args.name,
                                         **kwargs):
        parity = report["parity"]
        check = ("not checked" if parity is None else "parity max abs diff "
                 + ", ".join(f"{k} {v:.2g}" for k, v in parity.items() if k != "seed"))
        print(f"kerasgan: wrote {report['path']} ({check})")


def _evaluate(args):
    import kerasgan
    from kerasgan import metrics
    from kerasgan import run as runs

    if not os.path.exists(args.run):
        raise CLIError(f"{args.run} does not exist: pass a run folder or a .keras file")
    if args.out and os.path.isdir(args.out):
        raise CLIError(f"--out {args.out} is a folder: pass a .json file path")
    names = [m.strip() for m in args.metrics.split(",") if m.strip()]
    from kerasgan.metrics.paired import PAIRED_METRICS

    if names and set(names) <= set(PAIRED_METRICS):
        return _evaluate_paired(args, names)
    for name in names:
        try:
            metrics.get_metric(name)
        except ValueError as e:
            raise CLIError(str(e)) from None
    run_dir = args.run if os.path.isdir(args.run) else os.path.dirname(os.path.abspath(args.run))
    record = {}
    if os.path.exists(os.path.join(run_dir, runs.RUN_FILE)):
        record = runs.read_json(os.path.join(run_dir, runs.RUN_FILE))
    data = args.data or record.get("data", {}).get("source")
    split = args.split or (record.get("data", {}).get("split") if not args.data else None) or "train"
    model = runs.load_run(args.run)
    if args.truncation_psi is not None:
        _check_truncation(model, args.truncation_psi, args.run)
        model = _truncated_sampler(model, args.truncation_psi)
    results = metrics.evaluate(model, names, data=data, split=split, seed=args.seed,
                               batch_size=args.batch_size, num_gen=args.num_gen,
                               use_cache=not args.no_cache, verbose=True)
    for name, r in results.items():
        extra = "".join(f" {k} {r[k]:.4g}" for k in ("std", "precision", "recall") if k in r)
        real = f", {r['num_real']} real ({r['data']}:{r['split']})" if "num_real" in r else ""
        print(f"{name}: {r['value']:.6g}{extra}  [{r['network']}; {r['num_gen']} generated{real}; "
              f"{r['time_s']:.1f} s]")
    if args.out:
        metrics.write_results({"run": os.path.abspath(args.run), "results": results,
                               "versions": runs.versions(), "kerasgan": kerasgan.__version__},
                              args.out)
        print(f"kerasgan: wrote {args.out}")


def _evaluate_paired(args, names):
    """``kerasgan evaluate RUN --metrics psnr,ssim [--data PAIRS] [--split test]``:
    the translations of the pairs against their targets, with the trivial
    baselines."""
    import kerasgan
    from kerasgan import metrics
    from kerasgan import run as runs
    from kerasgan.metrics.paired import baseline_scores, paired_scores

    model = runs.load_run(args.run)
    if not getattr(model, "image_conditioned", False):
        raise CLIError(f"psnr and ssim compare translations with targets: {args.run} is not an "
                       "image-to-image model")
    if getattr(model, "super_resolution", False):
        source = _super_resolution_source(args, args.run, "test", model.scale)
    else:
        source = _paired_source(args, args.run, "test")
    scores = paired_scores(model, source, batch_size=args.batch_size)
    baselines = baseline_scores(source)
    for name in names:
        base = ", ".join(f"baseline {k} {v[name]:.4g}" for k, v in baselines.items())
        print(f"{name}: {scores[name]:.4g} (std {scores[name + '_std']:.3g}; "
              f"{scores['num_pairs']} pairs of {source.name}; {base})")
    if args.out:
        metrics.write_results({"run": os.path.abspath(args.run), "results": scores,
                               "baselines": baselines, "data": source.name,
                               "versions": runs.versions(), "kerasgan": kerasgan.__version__},
                              args.out)
        print(f"kerasgan: wrote {args.out}")


def _truncated_sampler(gan, psi):
    """``sample(n, seed, labels=None)`` of ``gan`` with its truncation at ``psi``,
    the sampler form :func:`kerasgan.metrics.evaluate` takes."""
    def sample(n, seed, labels=None):
        return gan.generate(n, seed=seed, labels=labels, codes={"truncation_psi": psi})

    sample.image_shape = tuple(gan.generator.output_shape[1:])
    sample.num_classes = gan.num_classes
    return sample


def _zoo(args):
    import json

    from kerasgan import zoo

    if args.zoo_command in (None, "list"):
        for name in zoo.list():
            entry = zoo.info(name)
            scores = ", ".join(f"{m['metric']} {m['value']:.4g}" for m in entry["metrics"])
            print(f"{name}: {entry['family']} {'x'.join(map(str, entry['resolution']))} "
                  f"on {entry['dataset']['name']}; {scores}")
    elif args.zoo_command == "info":
        print(json.dumps(zoo.info(args.name), indent=2, sort_keys=True))
    elif args.zoo_command == "download":
        print(zoo.download(args.name))
    elif args.zoo_command == "sample":
        _check_png_out(args.out)
        count = _write_samples(zoo.from_preset(args.name), args, args.name)
        print(f"kerasgan: wrote {count} samples of {args.name} to {args.out}")
    elif args.zoo_command == "export":
        import kerasgan

        gan = zoo.from_preset(args.name)
        entry = zoo.info(args.name)
        formats = kerasgan.export.exporters.FORMATS if args.format == "all" else (args.format,)
        for report in kerasgan.export.export(gan, args.out, formats=formats, name=args.name,
                                             dataset=entry["dataset"]["name"]):
            print(f"kerasgan: wrote {report['path']}")
    elif args.zoo_command == "pack":
        print(json.dumps(zoo.pack(args.run, args.name, args.out), indent=2))


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from kerasgan.run import versions

        print(" ".join(f"{k} {v}" for k, v in versions().items()))
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    from kerasgan.data import DataError
    from kerasgan.export import ExportError
    from kerasgan.metrics import MetricInputError
    from kerasgan.zoo.catalog import CatalogError
    from kerasgan.zoo.download import ZooDownloadError
    from kerasgan.run import Preempted, RunError

    try:
        if args.command == "families":
            import kerasgan

            print("\n".join(kerasgan.models.names()))
        elif args.command == "train":
            _train(args)
        elif args.command == "sample":
            _sample(args)
        elif args.command == "export":
            _export(args)
        elif args.command == "evaluate":
            _evaluate(args)
        elif args.command == "zoo":
            _zoo(args)
        elif args.command == "metrics":
            from kerasgan.metrics import metric_names

            print("\n".join(metric_names()))
        return 0
    except (CLIError, DataError, RunError, ExportError, MetricInputError, CatalogError,
            ZooDownloadError) as e:
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
    except KeyboardInterrupt:
        print("kerasgan: interrupted; run the same command again to resume from the last "
              "backup", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
