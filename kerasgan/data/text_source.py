"""`TokenSequenceSource`: sentences as fixed-length token ids, and the
deterministic `tf.data` pipeline the token-sequence families train on.

`open_text_source()` reads sentences (a text file, a folder of text files, a
``train.txt`` / ``test.txt`` folder, a ``.npz`` of token ids, or a TFDS text
data set), builds or takes a :class:`kerasgan.vocabulary.Vocabulary`, and
encodes every sentence to ``seq_len`` ids (the tokens, ``<end>``, ``<pad>``
to the length; a numeric vocabulary: exactly ``seq_len`` ids).
`TokenSequenceSource.dataset()` yields ``int32`` ``(B, seq_len)`` batches in
an order that is a pure function of ``(seed, epoch)`` (the one epoch pipeline
of every source, :func:`kerasgan.data.source.index_pipeline`), so training
resumes exactly.

Example:

>>> from kerasgan.data.text_source import open_text_source
>>> src = open_text_source("../shared/data/text/image_coco")  # doctest: +SKIP
>>> len(src), src.seq_len, len(src.vocabulary)                 # doctest: +SKIP
(9999, 36, 6098)
>>> next(iter(src.dataset(64, seed=0))).shape                  # doctest: +SKIP
TensorShape([64, 36])
"""

import codecs
import os
import re

import numpy as np

from kerasgan import utils
from kerasgan.data.errors import DataError
from kerasgan.core.tf_step import without_autotune
from kerasgan.data.source import Source, index_pipeline, shuffled_indices
from kerasgan.vocabulary import SPECIALS, UNK, Vocabulary, VocabularyError, tokenize

_VALID_FORMS = (
    "expected a text file (one sentence a line), a folder of .txt files, a folder with "
    "train.txt and test.txt, a .npz of token ids, or tfds:NAME[:SPLIT]"
)
#: the file names of a split layout (``train.txt``, ``test.txt``, ...)
_SPLIT_NAMES = ("train", "test", "valid", "validation", "val", "dev")
_ON_LONG = ("error", "truncate")
_TOO_LONG_HINT = "raise --seq-len or pass --truncate"


class TokenSequenceSource(Source):
    """Sentences encoded as fixed-length token ids, with their vocabulary.

    Args:
        tokens: integer array ``(N, L)``: the ids of each sentence (``<end>``
            and ``<pad>`` included), all below ``len(vocabulary)``.
        vocabulary: the :class:`Vocabulary` (or its JSON dict) of the ids.
        name: a short description of where the sentences come from.
        unknown_tokens: tokens of the data the vocabulary does not hold (read
            as ``<unk>``), for callers to warn about.
        truncated: sentences cut to the length (``on_long="truncate"``).
        texts: the original sentences (whitespace-normalised), or None (ids
            read from a ``.npz``); BLEU references should use these, not the
            ``<unk>``-ed :meth:`sentences`.

    Raises:
        DataError: ``tokens`` is not a non-empty 2-D integer array, or holds
            ids outside the vocabulary.

    Example:

    >>> import numpy as np
    >>> from kerasgan.vocabulary import Vocabulary
    >>> vocab = Vocabulary.build(["a cat sat"])
    >>> src = TokenSequenceSource([vocab.encode("a cat sat", 5)], vocab)
    >>> src.arrays().tolist(), src.sentences()
    ([[4, 5, 6, 2, 0]], ['a cat sat'])
    """

    example = "sentence"
    labels = None
    num_classes = None

    def __init__(self, tokens, vocabulary, *, name="array", unknown_tokens=0, truncated=0,
                 texts=None):
        try:
            vocabulary = Vocabulary.from_json(vocabulary)
        except VocabularyError as e:
            raise DataError(f"{name}: {e}") from None
        tokens = np.asarray(tokens)
        if tokens.ndim != 2 or tokens.dtype.kind not in "iu":
            raise DataError(f"{name}: token ids must be a 2-D integer array (sentences, length), "
                            f"got {tokens.dtype} {tokens.shape}: pass np.int32 ids")
        if tokens.size and (tokens.min() < 0 or tokens.max() >= len(vocabulary)):
            bad = int(tokens.min()) if tokens.min() < 0 else int(tokens.max())
            raise DataError(f"{name}: token id {bad} is not in the vocabulary of "
                            f"{len(vocabulary)} tokens (ids 0..{len(vocabulary) - 1}): pass the "
                            "vocabulary the ids were made with")
        if texts is not None and len(texts) != tokens.shape[0]:
            raise DataError(f"{name}: {len(texts)} texts for {tokens.shape[0]} token sequences: "
                            "pass one text per sequence")
        self.tokens = np.ascontiguousarray(tokens, dtype=np.int32)
        self.vocabulary = vocabulary
        self.name = str(name)
        self.unknown_tokens = int(unknown_tokens)
        self.truncated = int(truncated)
        self.texts = None if texts is None else list(texts)
        self._tensor_cache = None

    def __len__(self):
        return int(self.tokens.shape[0])

    def __repr__(self):
        return (f"<TokenSequenceSource {self.name}: {len(self)} sentences of {self.seq_len} "
                f"tokens, {len(self.vocabulary)}-token vocabulary>")

    @property
    def seq_len(self):
        """Tokens in one sequence (``<end>`` and ``<pad>`` included)."""
        return int(self.tokens.shape[1])

    def arrays(self, start=0, stop=None):
        """The ``int32`` ids of sentences ``start:stop``, in stored order."""
        return self.tokens[slice(start, stop)]

    def sentences(self, start=0, stop=None):
        """Sentences ``start:stop`` decoded by the vocabulary (up to ``<end>``;
        unknown tokens read ``<unk>``)."""
        return [self.vocabulary.decode(row) for row in self.tokens[slice(start, stop)]]

    def _tensor(self):
        # one host-memory copy per source, shared by every dataset made from it
        import tensorflow as tf

        key = id(self.tokens)
        if self._tensor_cache is None or self._tensor_cache[0] != key:
            with tf.device("/cpu:0"):
                self._tensor_cache = (key, tf.constant(self.tokens))
        return self._tensor_cache[1]

    def dataset(self, batch_size, *, shuffle=True, seed=None, drop_remainder=True, repeat=False,
                start_epoch=0, start_step=0, labels=False, flip=False):
        """A batched, prefetched ``tf.data.Dataset`` of ``int32``
        ``(B, seq_len)`` token ids (one tensor per batch, not a tuple).

        Epoch ``e`` visits the sentences in the order
        ``stateless_shuffle(range(N), seed=[seed, e])``: a pure function of
        ``(seed, epoch)``, so ``repeat=True, start_epoch=e, start_step=s`` is
        exactly the tail of an uninterrupted run from step ``s`` of epoch
        ``e`` (see :meth:`kerasgan.data.ImageSource.dataset` for the
        ``repeat=False`` rule and sharding under ``tf.distribute``).

        Args:
            batch_size: positive int.
            shuffle: shuffle each epoch; False: stored order.
            seed: int seed (None: one drawn at random, once).
            drop_remainder: drop each epoch's last partial batch.
            repeat: an endless dataset of epochs ``start_epoch, start_epoch + 1, ...``.
            start_epoch: index of the first epoch.
            start_step: batches of the first epoch to skip (never read).
            labels: must be False (sentences have no class labels).
            flip: must be False (there is nothing to mirror).

        Raises:
            DataError: an empty source, a bad batch size, seed, start epoch or
                step, ``labels`` or ``flip``.
        """
        import tensorflow as tf

        self._no_labels(labels)
        if flip:
            raise DataError(f"sentences of {self.name!r} cannot be flipped: pass flip=False")
        n = len(self)
        batch_size, seed, start_epoch, start_step, steps = self._epoch_arguments(
            batch_size, seed=seed, drop_remainder=drop_remainder, start_epoch=start_epoch,
            start_step=start_step)
        shuffle = bool(shuffle)
        tokens_t = self._tensor()

        def epoch_parts(pair):
            return {"idx": shuffled_indices(pair, n, shuffle)}

        def fetch(batch):
            return tf.gather(tokens_t, batch["idx"])

        return index_pipeline(
            epoch_parts, fetch, n=n, batch_size=batch_size, steps=steps, seed=seed,
            randomised=shuffle, drop_remainder=bool(drop_remainder), repeat=repeat,
            start_epoch=start_epoch, start_step=start_step)


# --------------------------------------------------------------------------- text files


def read_sentences(path):
    """The non-blank lines of a UTF-8 text file, as ``(line number, text)``.

    Lines end at ``\\n`` (a ``\\r`` before it is dropped); a UTF-8 byte order
    mark is skipped.

    Raises:
        DataError: the file cannot be read, or holds bytes that are not UTF-8
            (the message names the line and byte).
    """
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise DataError(f"could not read {path}: {e.strerror or e}: check the path and its "
                        "permissions") from None
    start = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
    try:
        text = raw[start:].decode("utf-8")
    except UnicodeDecodeError as e:
        at = start + e.start
        line = raw.count(b"\n", 0, at) + 1
        column = at - (raw.rfind(b"\n", 0, at) + 1)
        raise DataError(
            f"{path}: line {line} is not UTF-8 (byte 0x{raw[at]:02x} at byte {column} of the "
            f"line, {at} of the file): re-encode the file as UTF-8, e.g. "
            f"`iconv -f latin1 -t utf-8`") from None
    out = []
    for number, line in enumerate(text.split("\n"), 1):
        if line.strip():
            out.append((number, line))
    return out


def _text_files(folder):
    return [os.path.join(folder, f) for f in sorted(os.listdir(folder))
            if f.lower().endswith(".txt") and not f.startswith(".")
            and os.path.isfile(os.path.join(folder, f))]


def _split_files(folder):
    """``{split: path}`` of a folder's ``train.txt``, ``test.txt``, ... files."""
    out = {}
    for path in _text_files(folder):
        base = os.path.basename(path)[:-4]
        if base.lower() in _SPLIT_NAMES:
            out[base] = path
    return out


def _file_sentences(paths):
    """``[(where, text)]`` of every non-blank line of ``paths``, in order
    (``where`` is ``(path, line number)``)."""
    out = []
    for path in paths:
        out.extend(((path, number), text) for number, text in read_sentences(path))
    return out


# --------------------------------------------------------------------------- TFDS


def _parse_tfds(spec, split):
    """``(name, split)`` of ``tfds:NAME[:VERSION][:SPLIT]`` (as image sources read it)."""
    from kerasgan.data.sources import parse_tfds

    return parse_tfds(spec, split, examples="'tfds:lm1b' or 'tfds:imdb_reviews:test'")


def _tfds_builder(name, data_dir=None):
    from kerasgan.data.sources import tfds_builder

    return tfds_builder(name, data_dir)


def _tfds_text_key(builder, name):
    """The data set's text feature: ``text`` if it has one, else its first
    scalar string feature."""
    import tensorflow as tf

    features = builder.info.features
    keys = [k for k, f in features.items()
            if getattr(f, "dtype", None) == tf.string and tuple(getattr(f, "shape", ())) == ()]
    if not keys:
        raise DataError(f"TFDS dataset {name!r} has no text feature (features: "
                        f"{', '.join(features)}): use a dataset with a string feature such "
                        "as 'text'")
    return "text" if "text" in keys else keys[0]


def _tfds_sentences(builder, name, split):
    import tensorflow as tf
    import tensorflow_datasets as tfds

    key = _tfds_text_key(builder, name)
    try:
        ds = builder.as_dataset(split=split, shuffle_files=False)
    except (ValueError, KeyError) as e:
        raise DataError(f"could not read split {split!r} of TFDS dataset {name!r}: "
                        f"{_reason(e)}; pass an existing split (e.g. 'train', 'test', "
                        "'train[:10%]')") from None
    ds = ds.map(lambda example: example[key], num_parallel_calls=tf.data.AUTOTUNE)
    out = []
    where = f"tfds:{name}:{split}"
    try:
        for batch in tfds.as_numpy(without_autotune(ds.batch(4096).prefetch(2))):
            for raw in batch:
                index = len(out)
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise DataError(
                        f"{where}: example {index} is not UTF-8 (byte 0x{raw[e.start]:02x} at "
                        f"byte {e.start}): use another split or data set, or re-encode it as "
                        "UTF-8") from None
                out.append(((where, index), text))
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"could not read TFDS dataset {name!r} split {split!r}: {_reason(e)}; "
                        "rebuild it with `tfds build`") from e
    return [(w, t) for w, t in out if t.strip()]


def _reason(e):
    text = str(e).strip()
    line = text.splitlines()[0][:200] if text else ""
    return f"{type(e).__name__}: {line}" if line else type(e).__name__


# --------------------------------------------------------------------------- .npz


_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def _open_npz(path, split, *, seq_len, vocabulary, on_long):
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as e:
        raise DataError(f"could not read {path}: {e.strerror or e}: check the path and its "
                        "permissions") from None
    if not head.startswith(_ZIP_MAGIC):
        raise DataError(f"{path} is not a .npz archive: save the token ids with "
                        "np.savez(path, tokens=ids)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as e:
        raise DataError(f"could not read {path}: {_reason(e)}; save the token ids again with "
                        "np.savez(path, tokens=ids) (integer arrays, no objects)") from None
    keys = [k for k in ("tokens", f"tokens_{split}") if k in arrays]
    others = [k for k in arrays if k != "vocab_size"]
    key = keys[0] if keys else (others[0] if len(others) == 1 else None)
    if key is None:
        raise DataError(f"{path}: no token array found (keys: {', '.join(arrays) or 'none'}): "
                        "store the ids under 'tokens' (np.savez(path, tokens=ids))")
    tokens = arrays[key]
    where = f"{path}[{key!r}]"
    if tokens.dtype.kind not in "iu":
        raise DataError(f"{where} holds {tokens.dtype} values, not integer token ids: save "
                        "them as integers, e.g. ids.astype(np.int32)")
    if tokens.ndim != 2:
        raise DataError(f"{where} has shape {tokens.shape}: token ids must be 2-D (sentences, "
                        "length); reshape the array")
    if tokens.shape[0] == 0 or tokens.shape[1] == 0:
        raise DataError(f"{where} is empty (shape {tokens.shape}): store at least one sentence "
                        "of at least one token")
    if tokens.min() < 0:
        row = int(np.argwhere(tokens < 0)[0][0])
        raise DataError(f"{where}: sentence {row} holds the negative id {int(tokens.min())}: "
                        "fix the ids (token ids are 0..vocab_size-1)")
    top = int(tokens.max())
    size = None
    if "vocab_size" in arrays:
        value = arrays["vocab_size"]
        if value.size != 1 or value.dtype.kind not in "iu" or int(value.reshape(())) < 1:
            raise DataError(f"{path}: 'vocab_size' must be one positive integer, got {value!r}: "
                            "save it as np.savez(path, tokens=ids, vocab_size=V)")
        size = int(value.reshape(()))
        if top >= size:
            row = int(np.argwhere(tokens >= size)[0][0])
            raise DataError(f"{where}: sentence {row} holds id {top} ≥ vocab_size {size}: "
                            "fix the ids or save the right vocab_size")
    if vocabulary is not None:
        if size is not None and size != len(vocabulary):
            raise DataError(f"vocabulary mismatch: {path} says vocab_size {size} but the given "
                            f"vocabulary has {len(vocabulary)} tokens: pass the vocabulary the "
                            "ids were made with")
        if top >= len(vocabulary):
            raise DataError(f"vocabulary mismatch: {where} holds id {top}, beyond the given "
                            f"vocabulary of {len(vocabulary)} tokens: pass the vocabulary the "
                            "ids were made with")
    else:
        vocabulary = Vocabulary.numeric_ids(size if size is not None else top + 1)
    truncated = 0
    width = tokens.shape[1]
    if seq_len is not None and seq_len != width:
        if seq_len > width or on_long != "truncate":
            raise DataError(
                f"{where} holds sequences of {width} tokens, not seq_len {seq_len}: leave "
                f"--seq-len out (it is the array's width)"
                + ("" if seq_len > width else " or pass --truncate"))
        tokens, truncated = tokens[:, :seq_len], len(tokens)
    return TokenSequenceSource(tokens, vocabulary, name=f"npz:{path}", truncated=truncated)


# --------------------------------------------------------------------------- encoding


def _check_vocabulary(vocabulary):
    """A :class:`Vocabulary` from one, its JSON dict, a token list or a
    vocabulary.json path (None stays None)."""
    if vocabulary is None or isinstance(vocabulary, Vocabulary):
        return vocabulary
    if isinstance(vocabulary, (str, os.PathLike)):
        path = os.path.expanduser(os.fspath(vocabulary))
        if not os.path.isfile(path):
            raise DataError(f"vocabulary file {path!r} not found: pass the vocabulary.json a "
                            "run or an export wrote")
        try:
            return Vocabulary.load(path)
        except VocabularyError as e:
            raise DataError(str(e)) from None
    try:
        return Vocabulary.from_json(vocabulary)
    except VocabularyError as e:
        raise DataError(f"bad vocabulary: {e}") from None


def _where_text(where):
    source, position = where
    return f"{source}: example {position}" if isinstance(source, str) and source.startswith(
        "tfds:") else f"{source}: line {position}"


def _encode(sentences, vocabulary, seq_len, on_long):
    """``(ids (N, seq_len) int32, unknown tokens, truncated sentences, texts)``."""
    numeric = vocabulary.numeric
    room = seq_len if numeric else seq_len - 1
    out = np.empty((len(sentences), seq_len), np.int32)
    unk, unknown, truncated, texts = vocabulary.unk_id, 0, 0, []
    for row, (where, text) in enumerate(sentences):
        tokens = tokenize(text)
        texts.append(" ".join(tokens))
        if len(tokens) > room:
            if on_long != "truncate":
                room_text = "" if numeric else f" ({room} tokens and <end>)"
                raise DataError(
                    f"{_where_text(where)} has {len(tokens)} tokens, longer than seq_len "
                    f"{seq_len} allows{room_text}: {_TOO_LONG_HINT}")
            truncated += 1
        if numeric and len(tokens) < seq_len:
            raise DataError(f"{_where_text(where)} has {len(tokens)} ids where the others have "
                            f"{seq_len}: numeric data have one fixed length; fix the line")
        try:
            ids = vocabulary.encode(tokens, seq_len, on_long="truncate")
        except VocabularyError:
            bad = next(t for t in tokens if not _holds(vocabulary, t))
            raise DataError(
                f"vocabulary mismatch: {_where_text(where)} holds {bad!r}, not an id of the "
                f"numeric vocabulary of {len(vocabulary)} tokens: pass the vocabulary the data "
                "were made with") from None
        if not numeric:
            unknown += sum(1 for t in tokens if t != UNK and vocabulary.id(t) == unk)
        out[row] = ids
    return out, unknown, truncated, texts


def _holds(vocabulary, token):
    try:
        vocabulary.id(token)
    except VocabularyError:
        return False
    return True


def _build_vocabulary(sentences, max_vocab, min_count):
    try:
        return Vocabulary.build((text for _, text in sentences), max_size=max_vocab,
                                min_count=min_count)
    except VocabularyError as e:
        raise DataError(f"could not build a vocabulary: {e}") from None


def _no_sentences(what):
    return DataError(f"{what} has no sentences (it is empty, or blank lines only): put one "
                     "sentence a line, tokens separated by spaces")


# --------------------------------------------------------------------------- entry point


def open_text_source(source, split="train", seq_len=None, vocabulary=None, max_vocab=None,
                     min_count=1, on_long="error", data_dir=None):
    """Reads sentences and encodes them as a :class:`TokenSequenceSource`.

    Sources:

    - a text file: one sentence a line, tokens separated by whitespace,
      UTF-8; blank lines are skipped (``split`` is ignored);
    - a folder with ``train.txt`` / ``test.txt`` (also ``valid.txt``,
      ``val.txt``, ``dev.txt``, ``validation.txt``): ``split`` picks the
      file (the Texygen layout);
    - any other folder of ``.txt`` files: all their lines, files in sorted
      order;
    - a ``.npz``: integer ids ``(N, L)`` under ``tokens`` (or
      ``tokens_<split>``, or the file's only array), optionally
      ``vocab_size``; the vocabulary is numeric (ids ``0..V-1``, ``V`` =
      ``vocab_size`` or the largest id + 1) and the length is the width;
    - ``tfds:NAME[:SPLIT]``: a TFDS data set's ``text`` feature (else its
      first string feature), one example a sentence.

    Without ``vocabulary``, one is built from the *training* sentences
    (``train.txt`` of a split folder, the ``train`` split of a TFDS data set,
    even when ``split`` is another), so that every split of the data is
    encoded alike; tokens it lacks become ``<unk>`` and are counted in
    ``unknown_tokens``.

    Args:
        source: one of the forms above (a :class:`TokenSequenceSource` is
            returned as is).
        split: the split to read (folders with split files, ``.npz``, TFDS).
        seq_len: tokens in a sequence, ``<end>`` included; None: the longest
            sentence + 1 (text), the array's width (``.npz``).
        vocabulary: a :class:`Vocabulary`, its JSON dict, or the path of a
            ``vocabulary.json`` (a model's, to evaluate or resume it); None:
            built from the training sentences.
        max_vocab: at most this many tokens in a built vocabulary (the four
            special tokens included); None: every token.
        min_count: a built vocabulary keeps tokens seen this often.
        on_long: ``"error"``: a sentence longer than ``seq_len`` allows is
            refused; ``"truncate"``: it is cut (and counted in ``truncated``).
        data_dir: TFDS data directory (``tfds:`` sources only).

    Returns:
        A :class:`TokenSequenceSource`.

    Raises:
        DataError: one line naming the problem and what to do: a missing
            path, no sentences, a line too long, bytes that are not UTF-8, a
            bad ``.npz``, a vocabulary that does not hold the ids, an unknown
            TFDS name, a bad option.

    Example:

    >>> src = open_text_source("captions.txt", max_vocab=5000)  # doctest: +SKIP
    >>> src.sentences(0, 1)                                      # doctest: +SKIP
    ['a bicycle replica with a clock as the front wheel.']
    """
    if isinstance(source, TokenSequenceSource):
        return source
    from kerasgan.data.sources import source_text

    text = source_text(source, split, _VALID_FORMS)
    if on_long not in _ON_LONG:
        raise DataError(f"on_long must be 'error' or 'truncate', got {on_long!r}")
    if seq_len is not None:
        seq_len = utils.check_int(seq_len, "--seq-len", 1, error=DataError)
    if max_vocab is not None:
        max_vocab = utils.check_int(max_vocab, "--max-vocab", 1, error=DataError)
        if max_vocab <= len(SPECIALS):
            raise DataError(f"--max-vocab must be above {len(SPECIALS)} (the special tokens "
                            f"{', '.join(SPECIALS)}), got {max_vocab}")
    min_count = utils.check_int(1 if min_count is None else min_count, "--min-count", 1,
                                error=DataError)
    vocabulary = _check_vocabulary(vocabulary)

    if text.startswith("tfds:"):
        name, split = _parse_tfds(text[len("tfds:"):], split)
        builder = _tfds_builder(name, data_dir)
        sentences = _tfds_sentences(builder, name, split)
        label = f"tfds:{name}:{split}"
        if not sentences:
            raise _no_sentences(f"TFDS dataset {name!r} split {split!r}")
        train = sentences
        if vocabulary is None and split != "train" and "train" in builder.info.splits:
            train = _tfds_sentences(builder, name, "train")
        return _finish(sentences, train, label, seq_len=seq_len, vocabulary=vocabulary,
                       max_vocab=max_vocab, min_count=min_count, on_long=on_long)

    path = os.path.abspath(os.path.expanduser(text))
    if os.path.isdir(path):
        splits = _split_files(path)
        if splits:
            chosen = {k.lower(): v for k, v in splits.items()}.get(split.lower())
            if chosen is None:
                names = sorted(splits)
                raise DataError(f"{path} has split files {', '.join(n + '.txt' for n in names)} "
                                f"but no {split}.txt: pass --split one of {', '.join(names)}")
            sentences = _file_sentences([chosen])
            if not sentences:
                raise _no_sentences(chosen)
            train = sentences
            train_path = {k.lower(): v for k, v in splits.items()}.get("train")
            if vocabulary is None and train_path is not None and train_path != chosen:
                train = _file_sentences([train_path])
                if not train:
                    raise _no_sentences(train_path)
            label = f"text:{chosen}"
        else:
            files = _text_files(path)
            if not files:
                raise DataError(f"no .txt files in {path}: put text files in it (one sentence "
                                "a line), or pass the path of a text file")
            sentences = train = _file_sentences(files)
            if not sentences:
                raise _no_sentences(f"{path} ({len(files)} .txt files)")
            label = f"text:{path}"
        return _finish(sentences, train, label, seq_len=seq_len, vocabulary=vocabulary,
                       max_vocab=max_vocab, min_count=min_count, on_long=on_long)
    if os.path.isfile(path):
        if path.lower().endswith(".npz"):
            return _open_npz(path, split, seq_len=seq_len, vocabulary=vocabulary,
                             on_long=on_long)
        sentences = _file_sentences([path])
        if not sentences:
            raise _no_sentences(path)
        return _finish(sentences, sentences, f"text:{path}", seq_len=seq_len,
                       vocabulary=vocabulary, max_vocab=max_vocab, min_count=min_count,
                       on_long=on_long)
    if os.path.exists(path):
        raise DataError(f"data source {text!r} is neither a file nor a folder: {_VALID_FORMS}")
    hint = (f" (for the TFDS dataset, use 'tfds:{text}')"
            if re.fullmatch(r"[a-z0-9_]+", text) else "")
    raise DataError(f"data source {text!r} not found: no such file or folder{hint}; "
                    f"{_VALID_FORMS}")


def _finish(sentences, train, name, *, seq_len, vocabulary, max_vocab, min_count, on_long):
    if vocabulary is None:
        vocabulary = _build_vocabulary(train, max_vocab, min_count)
    numeric = vocabulary.numeric
    if seq_len is None:
        seq_len = max(len(tokenize(t)) for _, t in sentences) + (0 if numeric else 1)
    elif not numeric and seq_len < 2:
        raise DataError(f"--seq-len must be at least 2 for text (a token and <end>), got "
                        f"{seq_len}")
    tokens, unknown, truncated, texts = _encode(sentences, vocabulary, seq_len, on_long)
    return TokenSequenceSource(tokens, vocabulary, name=name, unknown_tokens=unknown,
                               truncated=truncated, texts=texts)


__all__ = ["TokenSequenceSource", "open_text_source", "read_sentences"]
