"""Batch kinds: how a run's data is opened, whatever the family.

A family's spec (:class:`kerasgan.spec.FamilySpec`) names the batch it trains
on; this module knows, for each batch kind, its data options (``--resize``,
``--direction``, ...), how to open the source from a run record's ``data``
entry, which constructor arguments the data decides (``image_shape``,
``input_channels``, ``scale``), and what ``source.dataset`` takes. The CLI and
the run folder go through it and name no family.

Example:
    >>> kind = batch_kind("pairs")
    >>> source = kind.open({"source": "../shared/data/facades", "direction": "BtoA"}, "train")
    >>> kind.model_arguments(source, {"direction": "BtoA"})
    {'image_shape': [256, 256, 3], 'input_channels': 3}
"""

from kerasgan.spec import Option

_SIZE = Option("resize", str, None, "resize images, e.g. 32 or 64x64 (bicubic; see docs/data.md)",
               metavar="SIZE")
_CHANNELS = Option("channels", int, None, "convert images to 1 or 3 channels", choices=(1, 3))
_FLIP = Option("flip", bool, False, "random horizontal flips")
_DIRECTION = Option(
    "direction", str, "AtoB",
    "AtoB translates the first (left) image to the second (right), BtoA the reverse; for two "
    "unpaired domains BtoA swaps them", choices=("AtoB", "BtoA"))
_JITTER = Option("jitter", bool, False,
                 "random jitter: resize to 286/256 of the size, random crop back")
_DATA_B = Option("data_b", str, None,
                 "domain B's image folder (--data is then domain A's); without it --data is a "
                 "folder with trainA/ and trainB/, or of A|B pairs whose halves are the domains",
                 metavar="FOLDER")
_SCALE = Option("scale", int, 4, "up-sampling factor: inputs are the --data images "
                "down-sampled by it (bicubic, antialiased)", minimum=1)


def parse_size(text):
    """``"32"`` or ``"64x64"`` as ``[h, w]`` (None stays None), by the one size
    rule of :func:`kerasgan.data.image_io.parse_size` (a list, as run.json
    records it).

    Raises:
        DataError: one line naming ``--resize`` and what it takes.
    """
    from kerasgan.data.errors import DataError
    from kerasgan.data.image_io import parse_size as parse

    try:
        size = parse(text)
    except DataError as e:
        raise DataError(f"--resize: {e}") from None
    return None if size is None else list(size)


class BatchKind:
    """One kind of data batch (see the module docstring)."""

    #: the kind's name, as in ``FamilySpec.batch``
    name = None
    #: its data options
    options = (_SIZE, _CHANNELS, _FLIP)
    #: keys of the run record's ``data`` entry this kind adds
    markers = {}

    def record(self, source, split, values):
        """The run record's ``data`` entry for these option values."""
        data = {"source": source, "split": split}
        for option in self.options:
            value = values.get(option.name, option.default)
            if option.name == "resize":
                value = parse_size(value)
            data[option.name] = value
        data.update(self.markers)
        return data

    def open(self, data, split):
        """The source a run record's ``data`` entry describes, for ``split``."""
        raise NotImplementedError

    def model_arguments(self, source, data):
        """Constructor arguments the data decides."""
        return {"image_shape": list(source.image_shape)}

    def dataset_arguments(self, data):
        """Extra arguments of ``source.dataset`` (besides batch, seed, flip)."""
        return {}

    def preview(self, source, n=8):
        """``(inputs, targets)`` of the first ``n`` examples for a sample grid
        (``targets`` None where there is no target to show); None for a batch
        kind whose families sample from noise."""
        return None


class Images(BatchKind):
    name = "images"

    def open(self, data, split):
        from kerasgan.data.sources import open_source

        return open_source(data["source"], split=split or "train",
                           resize=parse_size(data.get("resize")), channels=data.get("channels"))


class LabelledImages(Images):
    name = "labelled_images"


class Pairs(BatchKind):
    name = "pairs"
    options = (_SIZE, _CHANNELS, _FLIP, _DIRECTION, _JITTER)
    markers = {"paired": True}

    def open(self, data, split):
        from kerasgan.data.paired_source import open_paired

        return open_paired(data["source"], split=split or "train",
                           direction=data.get("direction") or "AtoB",
                           resize=parse_size(data.get("resize")), channels=data.get("channels"))

    def model_arguments(self, source, data):
        return {"image_shape": list(source.target_shape),
                "input_channels": source.image_shape[-1]}

    def dataset_arguments(self, data):
        return {"jitter": bool(data.get("jitter", False))}

    def preview(self, source, n=8):
        return source.arrays(0, n)


class Unpaired(Pairs):
    name = "unpaired"
    options = (_SIZE, _CHANNELS, _FLIP, _DIRECTION, _JITTER, _DATA_B)
    markers = {"paired": False, "unpaired": True}

    def open(self, data, split):
        from kerasgan.data.unpaired_source import UnpairedImageSource, open_unpaired

        source = open_unpaired(data["source"], data.get("source_b", data.get("data_b")),
                               split=split or "train", resize=parse_size(data.get("resize")),
                               channels=data.get("channels"))
        if (data.get("direction") or "AtoB") == "BtoA":
            source = UnpairedImageSource(source.b, source.a, name=f"{source.name}:BtoA",
                                         aligned=source.aligned, names=source.domain_names[::-1])
        return source

    def record(self, source, split, values):
        data = super().record(source, split, values)
        data["source_b"] = data.pop("data_b")  # the key run.json has always used
        return data

    def model_arguments(self, source, data):
        return {"image_shape": list(source.image_shape)}

    def preview(self, source, n=8):
        inputs, targets = source.arrays(0, n)
        return inputs, (targets[: len(inputs)] if source.aligned else None)


class SuperResolution(BatchKind):
    name = "super_resolution"
    options = (_SIZE, _CHANNELS, _FLIP, _SCALE)
    markers = {"super_resolution": True}

    def open(self, data, split):
        from kerasgan.data.super_resolution import open_super_resolution

        return open_super_resolution(data["source"], scale=int(data.get("scale") or 4),
                                     split=split or "train",
                                     resize=parse_size(data.get("resize")),
                                     channels=data.get("channels"))

    def model_arguments(self, source, data):
        return {"image_shape": list(source.target_shape), "scale": int(data.get("scale") or 4)}

    def preview(self, source, n=8):
        return source.arrays(0, n)


_SEQ_LEN = Option("seq_len", int, None,
                  "sequence length in tokens (default: the longest sentence + 1)", minimum=1,
                  metavar="TOKENS")
_MAX_VOCAB = Option("max_vocab", int, None, "keep at most this many tokens, the most frequent "
                    "(the 4 special tokens included; default: all)", minimum=5, metavar="TOKENS")
_MIN_COUNT = Option("min_count", int, 1, "keep tokens seen at least this many times (rarer ones "
                    "read <unk>)", minimum=1, metavar="N")
_TRUNCATE = Option("truncate", bool, False,
                   "cut sentences longer than --seq-len instead of refusing them")
_VOCABULARY = Option("vocabulary", str, None,
                     "use this vocabulary.json instead of building one", metavar="FILE")


class Sequences(BatchKind):
    """Token sequences: ``int32`` ``(B, seq_len)`` ids of sentences read by
    :func:`kerasgan.data.text_source.open_text_source`; the data decide the
    vocabulary, its size and the length."""

    name = "sequences"
    options = (_SEQ_LEN, _MAX_VOCAB, _MIN_COUNT, _TRUNCATE, _VOCABULARY)

    def open(self, data, split):
        from kerasgan.data.text_source import open_text_source

        min_count = data.get("min_count")
        return open_text_source(
            data["source"], split=split or "train", seq_len=data.get("seq_len"),
            vocabulary=data.get("vocabulary"), max_vocab=data.get("max_vocab"),
            min_count=1 if min_count is None else min_count,
            on_long="truncate" if data.get("truncate") else "error")

    def model_arguments(self, source, data):
        vocabulary = source.vocabulary
        return {"vocab_size": len(vocabulary), "seq_len": source.seq_len,
                "vocabulary": vocabulary.to_json()}


_KINDS = {k.name: k() for k in (Images, LabelledImages, Pairs, Unpaired, SuperResolution,
                                Sequences)}


def batch_kind(name):
    """The :class:`BatchKind` called ``name``."""
    if name not in _KINDS:
        raise ValueError(f"unknown batch kind {name!r}: one of {', '.join(sorted(_KINDS))}")
    return _KINDS[name]


def all_options():
    """Every data option of every batch kind, by name."""
    out = {}
    for kind in _KINDS.values():
        for option in kind.options:
            out.setdefault(option.name, option)
    return out


__all__ = ["BatchKind", "batch_kind", "all_options", "parse_size"]
