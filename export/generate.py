#!/usr/bin/env python3
"""Generate images or sentences from a kerasgan ONNX generator: numpy, onnxruntime and Pillow only.

::

    python export/generate.py dcgan.onnx --n 64 --seed 0 --out grid.png
    python export/generate.py cgan.onnx --n 10 --seed 0 --label 7 --out sevens.png
    python export/generate.py dcgan.onnx --info          # print the model's metadata

A translator takes images (``--inputs``: a ``.npy`` of NHWC images, uint8 or
float in [-1, 1], or one image file); a DRIT translator draws ``--attributes N``
random attributes per input, or takes a reference image's (``--reference`` with
``--attribute-encoder``, the ``_attribute_encoder.onnx`` exported beside it).
The grid has one row per input: the input, then its translations::

    python export/generate.py cyclegan.onnx --inputs photos.npy --out maps.png
    python export/generate.py drit.onnx --inputs cats.npy --attributes 5 --seed 0 --out dogs.png
    python export/generate.py drit.onnx --inputs cats.npy --reference dog.png \
        --attribute-encoder drit_attribute_encoder.onnx --out styled.png

A synthetic dataset of any size (``--dataset DIR``): streamed to disk in bounded
memory with a progress bar, as PNG files in the folder layout
``keras.utils.image_dataset_from_directory`` reads (one subfolder per class for a
conditional model), or ``.npz`` / TFRecord shards; resumable (run the same command
again after an interruption), with ``DIR/manifest.json`` (counts, seed, model
sha256, each shard's sha256). See ``synthetic.py`` for the seed rule::

    python export/generate.py cgan.onnx --dataset digits/ --n 60000 --seed 0
    python export/generate.py dcgan.onnx --dataset shards/ --n 1000000 --format tfrecord
    python export/generate.py pix2pix.onnx --dataset pairs/ --inputs photos/   # translations

A text model prints its sentences, one a line (``--out FILE`` also writes them
there, ``--npy`` the token ids)::

    python export/generate.py mle.onnx --n 10 --seed 0 --temperature 0.8
    python export/generate.py mle.onnx --n 1000 --seed 0 --out sentences.txt

Bad input prints one line, ``generate.py: error: ...``, and exits with status 2.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from onnx_generator import ModelError, OnnxGenerator, check_temperature, write_atomic  # noqa: E402
from synthetic import FORMATS, Interrupted  # noqa: E402

PROG = "generate.py"
#: the most images --out (a grid) and --npy hold in memory; --dataset streams any number
MAX_IN_MEMORY = 65536


def _int(name, low, high=None):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer, got {text!r}")
        if value < low or (high is not None and value > high):
            bound = f"at least {low}" if high is None else f"in [{low}, {high}]"
            raise argparse.ArgumentTypeError(f"{name} must be {bound}, got {value}")
        return value

    return parse


def _temperature(text):
    try:
        return check_temperature(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e))


def _label(text):
    return text if text in ("random", "balanced") else _int("--label", 0)(text)


def build_parser():
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    p.add_argument("model", help="an .onnx file written by `kerasgan export`")
    p.add_argument("--n", type=_int("--n", 1), default=None,
                   help="number of images (64) or sentences (10)")
    p.add_argument("--seed", type=_int("--seed", 0), default=None,
                   help="integer seed: the same images (sentences) as kerasgan's generate(n, seed)")
    p.add_argument("--label", type=_label, default=None,
                   help="class of every image, or 'random' (conditional models: required); "
                        "with --dataset: a class, or 'balanced' (the default: image i has "
                        "class i mod the number of classes)")
    p.add_argument("--temperature", type=_temperature, default=None,
                   help="text models: sampling temperature > 0 (1.0: as trained; lower: "
                        "more conservative)")
    p.add_argument("--nrow", type=_int("--nrow", 1), default=None, help="images per grid row")
    p.add_argument("--scale", type=_int("--scale", 1, 16), default=None,
                   help="integer upscaling of the grid (nearest)")
    p.add_argument("--out", default=None,
                   help="PNG grid to write (a text model: a text file, one sentence a line)")
    p.add_argument("--npy", default=None, help="also save the float images (NHWC, [-1, 1]) "
                   "or a text model's int32 token ids")
    p.add_argument("--threads", type=_int("--threads", 1), default=None,
                   help="ONNX Runtime intra-op threads")
    p.add_argument("--info", action="store_true", help="print the model's metadata and exit")
    p.add_argument("--inputs", default=None, help="images to translate (a translator): a .npy "
                   "of NHWC images (uint8, or float in [-1, 1]) or one image file")
    p.add_argument("--attributes", type=_int("--attributes", 1), default=None,
                   help="a DRIT translator: random attributes per input (default 1)")
    p.add_argument("--reference", default=None, help="a DRIT translator: target-domain "
                   "image(s) whose attribute to use (.npy or an image file)")
    p.add_argument("--attribute-encoder", default=None, help="the attribute encoder .onnx "
                   "exported beside the translator (with --reference)")
    d = p.add_argument_group("synthetic datasets (--dataset)")
    d.add_argument("--dataset", default=None, metavar="DIR",
                   help="write --n samples to this folder, streamed and resumable")
    d.add_argument("--format", choices=FORMATS, default="folder",
                   help="PNG files in class subfolders (folder), or .npz / TFRecord shards")
    d.add_argument("--batch", type=_int("--batch", 1, 4096), default=64,
                   help="samples per block, the seed rule's unit: block b is drawn from "
                        "seed [SEED, b] (default 64; a resume must use the same)")
    d.add_argument("--shard-size", type=_int("--shard-size", 1), default=None,
                   help="samples per shard, a multiple of --batch (default: about 64 MB of "
                        "pixels; folder: about 1024 files)")
    d.add_argument("--verify", action="store_true",
                   help="on resume, re-hash every complete shard against the manifest")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        gen = OnnxGenerator(args.model, threads=args.threads)
        if args.info:
            print(json.dumps(gen.metadata, indent=2, sort_keys=True))
            return 0
        if args.dataset is not None:
            return _dataset(gen, args)
        if gen.is_text:
            return _text(gen, args)
        if not args.out and not args.npy:
            raise ValueError("nothing to write: give --out grid.png (or --npy, or --info)")
        if args.out and not args.out.lower().endswith(".png"):
            raise ValueError(f"--out must be a .png file, got {args.out}")
        if args.temperature is not None:
            raise ValueError(f"{gen.family} makes images: drop --temperature (text models only)")
        if args.inputs is not None:
            return _translate(gen, args)
        for flag in ("attributes", "reference", "attribute_encoder"):
            if getattr(args, flag) is not None:
                raise ValueError(f"--{flag.replace('_', '-')} applies with --inputs (translators)")
        args.n = 64 if args.n is None else args.n
        if args.n > MAX_IN_MEMORY:
            raise ValueError(f"--n {args.n:,} is more than a grid or .npy holds in memory (at "
                             f"most {MAX_IN_MEMORY:,}): write a dataset instead, streamed to "
                             f"disk: --dataset DIR --n {args.n}")
        args.scale = 1 if args.scale is None else args.scale
        if args.label == "balanced":
            raise ValueError("--label balanced applies with --dataset: pass --label C or random")
        if args.label is not None and gen.num_classes is None:
            raise ValueError(f"{gen.family} is unconditional: drop --label")
        if args.label is None and gen.num_classes is not None:
            raise ValueError(f"{gen.family} is class-conditional: pass --label C "
                             f"(C in [0, {gen.num_classes})) or --label random")
        images = gen.generate(args.n, seed=args.seed, labels=args.label)
        if args.npy:
            import io

            import numpy as np

            buf = io.BytesIO()
            np.save(buf, images)
            write_atomic(args.npy, buf.getvalue())
        if args.out:
            gen.save_grid(images, args.out, nrow=args.nrow, scale=args.scale)
        print(f"{PROG}: wrote {args.n} {gen.family} images to "
              f"{', '.join(p for p in (args.out, args.npy) if p)}")
        return 0
    except (ModelError, ValueError, OSError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except Interrupted as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 130
    except MemoryError:
        print(f"{PROG}: error: out of memory: lower --n, or write a dataset (--dataset DIR), "
              "which streams in bounded memory", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


def _dataset(gen, args):
    """``--dataset DIR``: a synthetic dataset (synthetic.py), streamed and resumable."""
    import hashlib

    import synthetic

    if gen.is_text:
        raise ValueError(f"{gen.family} makes text: --dataset writes images; write sentences "
                         "with --n N --out sentences.txt")
    for flag, value in (("--out", args.out), ("--npy", args.npy), ("--nrow", args.nrow),
                        ("--scale", args.scale), ("--temperature", args.temperature),
                        ("--reference", args.reference),
                        ("--attribute-encoder", args.attribute_encoder)):
        if value is not None:
            raise ValueError(f"{flag} does not apply with --dataset")
    if args.attributes not in (None, 1):
        raise ValueError("--dataset draws one attribute per input: drop --attributes")
    seed = 0 if args.seed is None else args.seed
    if args.label == "random":
        raise ValueError("--dataset takes --label C or balanced (random labels would leave the "
                         "class counts to chance)")
    translates = any(s["sampler"] == "image" for s in gen.inputs)
    inputs = synthetic.open_inputs(args.inputs) if args.inputs and translates else None
    n, label_rule = synthetic.resolve_request(
        gen.family, n=args.n, label=args.label, num_classes=gen.num_classes,
        inputs=inputs if translates else args.inputs, translates=translates)
    diverse = translates and any(s["sampler"] == "normal" for s in gen.inputs)
    input_shape = None if inputs is None else tuple(inputs.shape[1:])
    sample_shape = (synthetic.translated_shape(gen, input_shape, diverse) if translates
                    else gen.image_shape)
    with open(args.model, "rb") as f:
        file_sha = hashlib.sha256(f.read()).hexdigest()
    make_block = synthetic.block_maker(gen, seed=seed, batch=args.batch, labels=label_rule,
                                       num_classes=gen.num_classes, inputs=inputs,
                                       diverse=diverse)
    identity = {"seed": seed, "labels": label_rule,
                "model": {"weights_sha256": gen.metadata.get("weights_sha256") or file_sha},
                "family": gen.family, "source": {"onnx": os.path.abspath(args.model),
                                                 "onnx_sha256": file_sha},
                "inputs": None if inputs is None else os.path.abspath(args.inputs),
                "writer": PROG}
    manifest = synthetic.write_dataset(
        args.dataset, n, make_block, fmt=args.format, batch=args.batch,
        shard_size=args.shard_size, identity=identity, sample_shape=sample_shape,
        input_shape=input_shape, num_classes=gen.num_classes if label_rule is not None else None,
        class_names=gen.metadata.get("class_names"), progress=not args.quiet,
        verify=args.verify)
    print(f"{PROG}: {manifest['count']:,} {gen.family} samples in {args.dataset} "
          f"({args.format}, {synthetic.shard_count(manifest)}, seed {seed})")
    return 0


def _read_images(path):
    """NHWC float32 images in [-1, 1] from a .npy (uint8 or float) or an image file."""
    import numpy as np

    if path.lower().endswith(".npy"):
        arr = np.load(path, allow_pickle=False)
    else:
        from PIL import Image

        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB" if im.mode not in ("L", "I;16") else "L"))
        arr = arr[..., None] if arr.ndim == 2 else arr
    if arr.dtype == np.uint8:
        arr = arr.astype("float32") / 127.5 - 1.0
    return arr


def _translate(gen, args):
    """``--inputs``: one grid row per input, the input then its translations."""
    import numpy as np

    for flag, value in (("--n", args.n), ("--label", args.label)):
        if value is not None:
            raise ValueError(f"{flag} does not apply with --inputs: the inputs decide the count")
    x = _read_images(args.inputs)
    x = x[None] if x.ndim == 3 else x
    if (args.reference is None) != (args.attribute_encoder is None):
        raise ValueError("--reference and --attribute-encoder go together")
    if args.reference is not None:
        if args.attributes is not None:
            raise ValueError("give --attributes (random) or --reference, not both")
        codes = OnnxGenerator(args.attribute_encoder, threads=args.threads).encode(
            _read_images(args.reference))
        out = gen.translate(x, attributes=codes)[:, None]
    elif args.attributes is not None:
        out = gen.translate(x, n=args.attributes, seed=args.seed)
    else:
        out = gen.translate(x)[:, None]
    shown = x if x.shape[-1] == out.shape[-1] else np.repeat(x[..., :1], out.shape[-1], -1)
    rows = np.concatenate([shown[:, None], out], axis=1)
    images = rows.reshape((-1, *out.shape[2:]))
    if args.npy:
        import io

        buf = io.BytesIO()
        np.save(buf, out)
        write_atomic(args.npy, buf.getvalue())
    if args.out:
        gen.save_grid(images, args.out, nrow=rows.shape[1], scale=args.scale or 1)
    print(f"{PROG}: wrote {len(x)} rows (input, {out.shape[1]} translation"
          f"{'s' if out.shape[1] > 1 else ''}) to {', '.join(p for p in (args.out, args.npy) if p)}")
    return 0


def _text(gen, args):
    """A text model: the sentences on stdout, one a line; ``--out`` writes
    them to a file too, ``--npy`` the int32 token ids."""
    unused = [name for name, value in (("--label", args.label), ("--nrow", args.nrow),
                                       ("--scale", args.scale)) if value is not None]
    if unused:
        raise ValueError(f"{gen.family} makes text: drop {', '.join(unused)} (image options)")
    if args.out and args.out.lower().endswith(".png"):
        raise ValueError(f"{gen.family} makes text: --out takes a text file (one sentence a "
                         f"line), e.g. sentences.txt, got {args.out}")
    n = 10 if args.n is None else args.n
    temperature = 1.0 if args.temperature is None else args.temperature
    out = gen.generate_text(n, seed=args.seed, temperature=temperature)
    if args.npy:
        import io

        import numpy as np

        buf = io.BytesIO()
        np.save(buf, out.ids)
        write_atomic(args.npy, buf.getvalue())
    if args.out:
        gen.save_text(out.texts, args.out)
    for text in out.texts:
        print(text)
    if args.out or args.npy:
        print(f"{PROG}: wrote {n} {gen.family} sentences to "
              f"{', '.join(p for p in (args.out, args.npy) if p)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
