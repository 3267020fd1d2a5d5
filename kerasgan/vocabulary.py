"""`Vocabulary`: tokens <-> ids for the token-sequence kind.

A vocabulary is a list of token strings; a token's id is its position. A text
vocabulary starts with four special tokens::

    0 <pad>   fills a sequence after its end
    1 <start> fed to the generator as its first input (never generated)
    2 <end>   ends a sentence
    3 <unk>   stands for a token the vocabulary does not hold

A *numeric* vocabulary (``Vocabulary.numeric(5000)``: the tokens are ``"0"``
... ``"4999"``) has no special tokens: it is for data that already are token
ids, such as the synthetic oracle's sequences (Yu et al. 2017), whose start input is token 0 and
whose sequences have a fixed length (no end, no padding).

The vocabulary travels with everything made from it: the model's config, the
run record, the export metadata. Its :attr:`fingerprint` (sha256 of the
tokens) is what a load compares.

This module imports neither TensorFlow nor Keras.

Example:
    >>> vocab = Vocabulary.build(["a cat sat", "a dog ran"])
    >>> ids = vocab.encode("a cat ran", length=6)
    >>> ids
    [4, 5, 8, 2, 0, 0]
    >>> vocab.decode(ids)
    'a cat ran'
"""

import collections
import hashlib
import json

PAD, START, END, UNK = "<pad>", "<start>", "<end>", "<unk>"
SPECIALS = (PAD, START, END, UNK)


class VocabularyError(ValueError):
    """A bad vocabulary or a sentence it cannot encode; one line, saying what to do."""


class Vocabulary:
    """An ordered list of distinct tokens (see the module docstring).

    Args:
        tokens: the tokens, id order. A text vocabulary's first four are
            :data:`SPECIALS`.
        numeric: True for a numeric vocabulary (tokens ``"0"``...``"V-1"``, no
            special tokens).
    """

    def __init__(self, tokens, numeric=False):
        tokens = [str(t) for t in tokens]
        if not tokens:
            raise VocabularyError("a vocabulary needs at least one token")
        if len(set(tokens)) != len(tokens):
            dup = [t for t, c in collections.Counter(tokens).items() if c > 1][:3]
            raise VocabularyError(f"the vocabulary repeats tokens {dup}: each token once")
        self.numeric = bool(numeric)
        if self.numeric:
            if tokens != [str(i) for i in range(len(tokens))]:
                raise VocabularyError("a numeric vocabulary's tokens are 0..V-1 in order")
        elif tuple(tokens[: len(SPECIALS)]) != SPECIALS:
            raise VocabularyError(
                f"a text vocabulary starts with the special tokens {', '.join(SPECIALS)}")
        self.tokens = tokens
        self._ids = {t: i for i, t in enumerate(tokens)}

    # ------------------------------------------------------------ construction
    @classmethod
    def numeric_ids(cls, size):
        """The vocabulary of data that already are ids ``0..size-1``."""
        return cls([str(i) for i in range(int(size))], numeric=True)

    @classmethod
    def build(cls, sentences, max_size=None, min_count=1, split=None):
        """The vocabulary of ``sentences`` (strings, tokenised by ``split``:
        whitespace by default): the special tokens, then tokens by falling
        count (ties in first-seen order), at most ``max_size`` in all, each
        seen at least ``min_count`` times."""
        counts = collections.Counter()
        for sentence in sentences:
            counts.update(tokenize(sentence, split))
        for special in SPECIALS:
            counts.pop(special, None)
        ranked = [t for t, c in counts.most_common() if c >= min_count]
        if max_size is not None:
            if max_size <= len(SPECIALS):
                raise VocabularyError(f"max_size must be above {len(SPECIALS)} (the special "
                                      f"tokens), got {max_size}")
            ranked = ranked[: max_size - len(SPECIALS)]
        return cls(list(SPECIALS) + ranked)

    # -------------------------------------------------------------- properties
    def __len__(self):
        return len(self.tokens)

    def __eq__(self, other):
        return isinstance(other, Vocabulary) and other.tokens == self.tokens

    def __repr__(self):
        kind = "numeric " if self.numeric else ""
        return f"<{kind}Vocabulary of {len(self)} tokens>"

    @property
    def size(self):
        return len(self.tokens)

    @property
    def pad_id(self):
        return None if self.numeric else 0

    @property
    def start_id(self):
        """The generator's first input (token 0 of a numeric vocabulary)."""
        return 0 if self.numeric else 1

    @property
    def end_id(self):
        return None if self.numeric else 2

    @property
    def unk_id(self):
        return None if self.numeric else 3

    @property
    def fingerprint(self):
        """sha256 of the tokens (one per line): what a load compares."""
        return hashlib.sha256("\n".join(self.tokens).encode("utf-8")).hexdigest()

    def id(self, token):
        """The id of ``token`` (``<unk>``'s when it is not held).

        Raises:
            VocabularyError: a numeric vocabulary does not hold it.
        """
        found = self._ids.get(token)
        if found is None:
            if self.numeric:
                raise VocabularyError(f"token {token!r} is not an id below {len(self)}")
            return self.unk_id
        return found

    # --------------------------------------------------------------- encode
    def encode(self, sentence, length, split=None, on_long="error"):
        """``sentence`` (a string, or a list of tokens) as ``length`` ids: the
        tokens, ``<end>`` and ``<pad>`` to the length (a numeric vocabulary:
        exactly ``length`` tokens).

        Args:
            on_long: ``"error"`` (a sentence that does not fit raises) or
                ``"truncate"`` (keeps the first tokens; the end is dropped).

        Raises:
            VocabularyError: the sentence is longer than the length allows.
        """
        tokens = tokenize(sentence, split) if isinstance(sentence, str) else list(sentence)
        ids = [self.id(t) for t in tokens]
        room = length if self.numeric else length - 1  # a text sentence keeps room for <end>
        if len(ids) > room:
            if on_long != "truncate":
                raise VocabularyError(
                    f"a sentence of {len(ids)} tokens does not fit in length {length}"
                    f"{'' if self.numeric else ' (with its <end> token)'}: raise the length "
                    "or truncate")
            return ids[:length]
        if self.numeric:
            if len(ids) != length:
                raise VocabularyError(f"a sequence of {len(ids)} ids where the length is "
                                      f"{length}: numeric data have one fixed length")
            return ids
        return ids + [self.end_id] + [self.pad_id] * (length - len(ids) - 1)

    def decode_tokens(self, ids):
        """The tokens of ``ids`` up to the first ``<end>`` or ``<pad>`` (all of
        them for a numeric vocabulary); ``<start>`` and ``<unk>`` are kept."""
        out = []
        for i in ids:
            i = int(i)
            if not self.numeric and i in (self.end_id, self.pad_id):
                break
            out.append(self.tokens[i] if 0 <= i < len(self.tokens) else UNK)
        return out

    def decode(self, ids):
        """``ids`` as one string (tokens joined by spaces)."""
        return " ".join(self.decode_tokens(ids))

    # ------------------------------------------------------------ serialise
    def to_json(self):
        return {"tokens": list(self.tokens), "numeric": self.numeric}

    @classmethod
    def from_json(cls, data):
        """A vocabulary from :meth:`to_json`'s dict (or a plain token list)."""
        if isinstance(data, Vocabulary):
            return data
        if isinstance(data, (list, tuple)):
            return cls(data)
        if not isinstance(data, dict) or "tokens" not in data:
            raise VocabularyError("a vocabulary is a dict with 'tokens' (and 'numeric')")
        return cls(data["tokens"], numeric=bool(data.get("numeric", False)))

    def save(self, path):
        """Writes the vocabulary as JSON (to a temporary file first, then
        renamed: a failed write leaves no half-written file)."""
        import os
        import tempfile

        folder = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".vocabulary-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self.to_json(), f, ensure_ascii=False)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise

    @classmethod
    def load(cls, path):
        """A vocabulary saved by :meth:`save`.

        Raises:
            VocabularyError: not a vocabulary file.
        """
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise VocabularyError(f"{path} is not a readable vocabulary file ({e}): pass the "
                                  "vocabulary.json a run or an export wrote") from None
        return cls.from_json(data)


def tokenize(sentence, split=None):
    """The tokens of ``sentence``: split on whitespace (or on ``split``)."""
    return sentence.split(split) if split is not None else sentence.split()


__all__ = ["Vocabulary", "VocabularyError", "tokenize", "SPECIALS", "PAD", "START", "END", "UNK"]
