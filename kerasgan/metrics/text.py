"""Text metrics of the text-GAN literature: BLEU-n, self-BLEU, the quality–diversity plot.

NumPy and the standard library only (no TensorFlow, no Keras), so these run
wherever the generated sentences are.

**BLEU-n** of one hypothesis (a list of tokens) against a set of references
(Papineni et al. 2002, sentence level, as Texygen computes it)::

    BLEU-n = BP * exp( sum_{k=1..n} (1/n) * log p_k )

- ``p_k``, the *modified* (clipped) k-gram precision: every k-gram of the
  hypothesis counts at most as many times as it occurs in the one reference
  where it occurs most; ``p_k = matched / max(1, number of k-grams of the
  hypothesis)``.
- Smoothing ``"method1"`` (NLTK's ``SmoothingFunction().method1``, Chen and
  Cherry 2014): a precision with zero matches becomes ``0.1 / max(1, number of
  k-grams)`` (epsilon 0.1 added to its numerator); non-zero precisions are
  unchanged. ``"none"``: a zero precision makes the score 0.
- ``BP``, the brevity penalty: ``r`` is the length of the reference closest in
  length to the hypothesis (a tie goes to the shorter reference), ``c`` the
  hypothesis length; ``BP = 1`` if ``c > r``, else ``exp(1 - r / c)``.
- A hypothesis with no matching unigram (an empty one included) scores 0,
  whatever the smoothing.

The corpus score is the plain mean of the per-hypothesis scores. This is
exactly ``nltk.translate.bleu_score.sentence_bleu(references, hypothesis,
weights=(1/n,)*n, smoothing_function=SmoothingFunction().method1)`` averaged
over the hypotheses, which is what Texygen (Zhu et al. 2018) and the text-GAN
papers that use its code report; the tests check agreement with NLTK to 1e-9.
It is computed here from tables made once (for every k-gram of the
references, its largest count in any one reference; the sorted reference
lengths), so 10,000 hypotheses against 10,000 references take seconds, where
the NLTK loop takes hours.

**Self-BLEU** (Zhu et al. 2018) measures diversity: each generated sentence is
scored by BLEU against all the *other* generated sentences as references, and
the scores are averaged. Lower means more diverse.

Two differences from Texygen's code to know before comparing with its tables:
Texygen tokenises with ``nltk.word_tokenize`` (here: whitespace, or your own
token lists), and its "fast" mode (``get_score()``'s default) scores BLEU
against only the first 500 reference lines and self-BLEU over only the first
500 generated sentences (``references[:500]``, ``sentences[:500]`` reproduce
that). Its published Image COCO table looks like full-reference scores: the
real training captions score BLEU-2..5 .709 / .488 / .310 / .202 here against
all of ``test.txt`` (Texygen's maximum-likelihood row: .731 / .497 / .305 / .189), but .475 /
.260 / .150 / .099 against its first 500 lines.

Tokens: a sentence is a string (split on whitespace) or a sequence of tokens
(strings or integer ids); a 2-D integer array is a batch of token-id sentences.

Example:

>>> from kerasgan.metrics import text
>>> refs = ["the cat sat on the mat", "there is a cat on the mat"]
>>> round(text.bleu(["the cat sat on the mat"], refs, max_n=2), 3)
1.0
>>> sorted(text.bleu_scores(["a cat on the mat"], refs, orders=(2, 3)))
['bleu2', 'bleu3']
>>> text.self_bleu(["a b c d e"] * 3, orders=(4,))
{'self_bleu4': 1.0}
"""

import bisect
import math
import os
from collections import Counter

import numpy as np

from kerasgan.metrics.stats import MetricInputError
from kerasgan.utils import check_choice, check_int

#: what ``"method1"`` smoothing adds to a zero numerator (NLTK's default epsilon)
EPSILON = 0.1
SMOOTHINGS = ("method1", "none")


# --------------------------------------------------------------------------- tokens
def _sentences(sentences, name):
    """A list of token tuples from strings, token sequences or a 2-D id array."""
    if isinstance(sentences, (str, bytes)):
        raise MetricInputError(
            f"{name} must be a list of sentences (strings or token lists), got a single string")
    if isinstance(sentences, np.ndarray) and sentences.ndim == 2:
        return [tuple(row) for row in sentences.tolist()]
    try:
        items = list(sentences)
    except TypeError:
        raise MetricInputError(
            f"{name} must be a list of sentences (strings or token lists), "
            f"got {type(sentences).__name__}") from None
    out = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            out.append(tuple(item.split()))
        elif isinstance(item, np.ndarray) and item.ndim == 1:
            out.append(tuple(item.tolist()))
        elif isinstance(item, (list, tuple)):
            out.append(tuple(item))
        else:
            raise MetricInputError(
                f"{name}[{i}] must be a string or a list of tokens, got {type(item).__name__}")
    return out


def _orders(orders):
    if isinstance(orders, (int, np.integer)) and not isinstance(orders, bool):
        orders = (orders,)
    try:
        orders = tuple(check_int(n, "each BLEU order", error=MetricInputError) for n in orders)
    except TypeError:
        raise MetricInputError(f"orders must be integers >= 1, got {orders!r}") from None
    if not orders:
        raise MetricInputError("orders must name at least one n-gram order, got none")
    return orders


def _ngram_counts(tokens, n):
    """Counter of the n-grams of ``tokens`` (unigrams keyed by the token itself)."""
    if n == 1:
        return Counter(tokens)
    return Counter(zip(*[tokens[i:] for i in range(n)]))


# --------------------------------------------------------------------------- scoring
def _closest_length(lengths, hyp_len, skip=False):
    """The reference length closest to ``hyp_len`` (ties: the shorter).

    ``lengths`` is sorted and duplicate-free; ``skip``: ignore an entry equal
    to ``hyp_len`` (self-BLEU, when the hypothesis is the only sentence of its
    length).
    """
    i = bisect.bisect_left(lengths, hyp_len)
    above = i + 1 if skip and i < len(lengths) and lengths[i] == hyp_len else i
    best = lengths[i - 1] if i > 0 else None  # below: strictly shorter
    if above < len(lengths):
        candidate = lengths[above]
        if best is None or candidate - hyp_len < hyp_len - best:
            best = candidate
    return best


def _score(matches, totals, ref_len, hyp_len, order, smoothing):
    """Sentence BLEU-``order`` from clipped matches and n-gram totals per order."""
    if matches[0] == 0:  # no unigram in common (empty hypotheses too): 0, as NLTK
        return 0.0
    weight = 1.0 / order
    logs = []
    for k in range(order):
        denominator = max(1, totals[k])
        if matches[k]:
            precision = matches[k] / denominator
        elif smoothing == "method1":
            precision = EPSILON / denominator
        else:
            return 0.0
        logs.append(weight * math.log(precision))
    penalty = 1.0 if hyp_len > ref_len else math.exp(1.0 - ref_len / hyp_len)
    return penalty * math.exp(math.fsum(logs))


def _matches(tokens, max_order, reference_max):
    """Clipped matches and totals for orders 1..max_order.

    ``reference_max(k, ngram, count)`` gives the largest count of ``ngram`` (of
    order ``k``, occurring ``count`` times in the hypothesis) in any reference.
    """
    matches, totals = [0] * max_order, [0] * max_order
    for k in range(1, max_order + 1):
        if len(tokens) < k:
            break
        counts = _ngram_counts(tokens, k)
        totals[k - 1] = len(tokens) - k + 1
        matched = 0
        for ngram, count in counts.items():
            limit = reference_max(k, ngram, count)
            matched += count if count <= limit else limit
        matches[k - 1] = matched
        if not matched:  # no k-gram match: no (k+1)-gram match either
            for j in range(k, max_order):
                totals[j] = max(0, len(tokens) - j)
            break
    return matches, totals


class _ReferenceTables:
    """For every n-gram of the references, its largest count in one reference,
    and the sorted distinct reference lengths."""

    def __init__(self, references, max_order):
        self.max_counts = [{} for _ in range(max_order)]
        lengths = set()
        for tokens in references:
            lengths.add(len(tokens))
            for k in range(1, min(max_order, len(tokens)) + 1):
                table = self.max_counts[k - 1]
                get = table.get
                for ngram, count in _ngram_counts(tokens, k).items():
                    if count > get(ngram, 0):
                        table[ngram] = count
        self.lengths = sorted(lengths)

    def reference_max(self, k, ngram, count):
        return self.max_counts[k - 1].get(ngram, 0)


class _SelfTables:
    """Per n-gram over all sentences: the largest count, how many sentences have
    it, and the largest smaller count; so the maximum over all sentences but one
    is O(1). And the sentence lengths with their multiplicity."""

    def __init__(self, sentences, max_order):
        self.top = [{} for _ in range(max_order)]
        for tokens in sentences:
            for k in range(1, min(max_order, len(tokens)) + 1):
                table = self.top[k - 1]
                get = table.get
                for ngram, count in _ngram_counts(tokens, k).items():
                    entry = get(ngram)
                    if entry is None:
                        table[ngram] = (count, 1, 0)
                        continue
                    first, times, second = entry
                    if count > first:
                        table[ngram] = (count, 1, first)
                    elif count == first:
                        table[ngram] = (first, times + 1, second)
                    elif count > second:
                        table[ngram] = (first, times, count)
        self.length_counts = Counter(len(tokens) for tokens in sentences)
        self.lengths = sorted(self.length_counts)

    def reference_max(self, k, ngram, count):
        # ``count`` is the hypothesis' own count, which is in the table: leave it out
        first, times, second = self.top[k - 1][ngram]
        return first if count < first or times > 1 else second

    def closest_length(self, hyp_len):
        skip = self.length_counts[hyp_len] == 1  # the hypothesis is the only one this long
        return _closest_length(self.lengths, hyp_len, skip=skip)


def _mean_scores(hypotheses, tables, closest_length, orders, smoothing):
    """Mean sentence BLEU per order; identical hypotheses are scored once."""
    max_order = max(orders)
    sums = {n: [] for n in orders}
    cache = {}
    for tokens in hypotheses:
        scores = cache.get(tokens)
        if scores is None:
            matches, totals = _matches(tokens, max_order, tables.reference_max)
            ref_len = closest_length(len(tokens))
            scores = cache[tokens] = [
                _score(matches, totals, ref_len, len(tokens), n, smoothing) for n in orders]
        for n, score in zip(orders, scores):
            sums[n].append(score)
    return {n: math.fsum(values) / len(values) for n, values in sums.items()}


# --------------------------------------------------------------------------- public
def bleu_scores(hypotheses, references, orders=(2, 3, 4, 5), smoothing="method1"):
    """BLEU-n of generated sentences against references, for several orders at once.

    The Texygen definition (see the module docstring): NLTK's sentence BLEU of
    each hypothesis against all references, equal weights ``1/n``, method1
    smoothing, averaged over hypotheses. The n-gram tables are built once for
    all orders.

    Args:
        hypotheses: the generated sentences: strings (split on whitespace),
            token lists, or a 2-D integer array of token ids.
        references: the reference sentences (e.g. a test set), same forms.
        orders: the n-gram orders ``n`` to report (an int or a sequence).
        smoothing: ``"method1"`` (Texygen's, the default) or ``"none"``.

    Returns:
        ``{"bleu2": float, "bleu3": float, ...}``, one entry per order.

    Raises:
        MetricInputError: no hypotheses or no references, a sentence that is
            neither a string nor a token list, an order < 1, an unknown smoothing.

    References:
        Papineni et al., "BLEU: a Method for Automatic Evaluation of Machine
        Translation", ACL 2002. Zhu et al., "Texygen: A Benchmarking Platform
        for Text Generation Models", SIGIR 2018.

    Example:
        >>> scores = bleu_scores(["a cat on the mat"], ["the cat sat on the mat"], orders=(2,))
        >>> round(scores["bleu2"], 4)  # exp(1 - 6/5) * sqrt(4/5 * 2/4)
        0.5178
    """
    orders = _orders(orders)
    smoothing = check_choice(smoothing, "smoothing", SMOOTHINGS, error=MetricInputError)
    hypotheses = _sentences(hypotheses, "hypotheses")
    references = _sentences(references, "references")
    if not hypotheses:
        raise MetricInputError("BLEU needs at least one hypothesis, got none")
    if not references:
        raise MetricInputError("BLEU needs at least one reference, got none")
    tables = _ReferenceTables(references, max(orders))
    means = _mean_scores(hypotheses, tables, lambda n: _closest_length(tables.lengths, n),
                         orders, smoothing)
    return {f"bleu{n}": means[n] for n in orders}


def bleu(hypotheses, references, max_n=4, smoothing="method1"):
    """BLEU-``max_n`` of generated sentences against references, one float.

    Same definition and arguments as :func:`bleu_scores` (one order); see the
    module docstring.

    Example:
        >>> bleu(["the cat sat on the mat"], ["the cat sat on the mat"], max_n=4)
        1.0
    """
    n = check_int(max_n, "max_n", error=MetricInputError)
    return bleu_scores(hypotheses, references, orders=(n,), smoothing=smoothing)[f"bleu{n}"]


def self_bleu(sentences, orders=(2, 3, 4, 5), max_hypotheses=None, seed=0, smoothing="method1"):
    """Self-BLEU: each sentence's BLEU against all the other sentences, averaged.

    The diversity metric of Texygen (lower is more diverse). The sentence being
    scored is left out of its references (its n-gram counts and its length), in
    O(1) per n-gram: the tables keep, for every n-gram, its largest count, how
    many sentences have that count, and the next smaller count. An empty
    sentence scores 0 and counts in the mean, as NLTK and Texygen do; it still
    serves as a (length-0) reference to the others.

    Args:
        sentences: the generated sentences (strings, token lists, or a 2-D
            integer array of token ids); at least 2.
        orders: the n-gram orders to report.
        max_hypotheses: score only this many sentences, drawn without
            replacement with ``numpy.random.default_rng(seed)`` (each still
            against *all* the other sentences), for speed on large sets; None
            (default): score every sentence. The result is then an unbiased
            estimate of the full self-BLEU, not the full value.
        seed: the seed of that draw.
        smoothing: ``"method1"`` (default) or ``"none"``.

    Returns:
        ``{"self_bleu2": float, ...}``, one entry per order.

    Raises:
        MetricInputError: fewer than 2 sentences, bad sentences or orders,
            ``max_hypotheses`` < 1.

    References:
        Zhu et al., "Texygen: A Benchmarking Platform for Text Generation
        Models", SIGIR 2018.

    Example:
        >>> self_bleu(["a b c d e", "a b c d e", "a b c d e"], orders=(2, 4))
        {'self_bleu2': 1.0, 'self_bleu4': 1.0}
    """
    orders = _orders(orders)
    smoothing = check_choice(smoothing, "smoothing", SMOOTHINGS, error=MetricInputError)
    sentences = _sentences(sentences, "sentences")
    if len(sentences) < 2:
        raise MetricInputError(
            f"self-BLEU needs at least 2 sentences (each is scored against the others), "
            f"got {len(sentences)}")
    hypotheses = sentences
    if max_hypotheses is not None:
        k = check_int(max_hypotheses, "max_hypotheses", error=MetricInputError)
        if k < len(sentences):
            chosen = np.sort(np.random.default_rng(seed).choice(len(sentences), k, replace=False))
            hypotheses = [sentences[i] for i in chosen]
    tables = _SelfTables(sentences, max(orders))
    means = _mean_scores(hypotheses, tables, tables.closest_length, orders, smoothing)
    return {f"self_bleu{n}": means[n] for n in orders}


# --------------------------------------------------------------------------- plot
_AXIS_LABELS = {
    "bleu": ("BLEU-{}", "higher: closer to the references"),
    "self_bleu": ("self-BLEU-{}", "lower: more diverse"),
}
_PLAIN_LABELS = {
    "nll_oracle": "NLL-oracle (lower: better quality)",
    "nll_test": "NLL-test (lower: better coverage)",
}


def _axis_label(key, hint=True):
    """``"self_bleu4"`` -> ``"self-BLEU-4 (lower: more diverse)"``; others unchanged."""
    if key in _PLAIN_LABELS:
        return _PLAIN_LABELS[key] if hint else _PLAIN_LABELS[key].split(" (")[0]
    for prefix in ("self_bleu", "bleu"):  # self_bleu first: "bleu" is its suffix
        rest = key[len(prefix):]
        if key.startswith(prefix) and rest.isdigit():
            name, why = _AXIS_LABELS[prefix]
            return f"{name.format(rest)} ({why})" if hint else name.format(rest)
    return key


def quality_diversity_plot(rows, path, x="self_bleu4", y="bleu4", title=None):
    """Draws the quality–diversity trade-off over sampling temperatures to a PNG.

    One line per family (in order of first appearance), its points sorted by
    temperature and labelled ``T=...``. Typical axes: BLEU-4 against
    self-BLEU-4 (the defaults), or ``x="nll_test", y="nll_oracle"`` for the
    synthetic-oracle benchmark. Uses matplotlib's Agg canvas directly (no
    pyplot, no global backend change); the PNG is written atomically.

    Args:
        rows: dicts, each with ``"family"``, ``"temperature"`` and the ``x``
            and ``y`` metric values (other keys are ignored).
        path: the PNG to write (its folder is created).
        x: the key of the horizontal metric.
        y: the key of the vertical metric.
        title: the figure title (default: ``"BLEU-4 vs self-BLEU-4 over
            temperature"`` for the default axes).

    Returns:
        ``path``.

    Raises:
        MetricInputError: no rows, a row without one of the keys, a value that
            is not a finite number.

    Example:
        >>> rows = [{"family": "baseline", "temperature": t, "bleu4": b, "self_bleu4": s}
        ...         for t, b, s in [(0.7, .40, .60), (1.0, .30, .35)]]
        >>> quality_diversity_plot(rows, "qd.png")
        'qd.png'
    """
    rows = list(rows)
    if not rows:
        raise MetricInputError("quality_diversity_plot needs at least one row, got none")
    families = {}
    for i, row in enumerate(rows):
        missing = [k for k in ("family", "temperature", x, y) if k not in row]
        if missing:
            raise MetricInputError(f"rows[{i}] lacks {', '.join(missing)}; it has {sorted(row)}")
        values = []
        for key in ("temperature", x, y):
            try:
                value = float(row[key])
            except (TypeError, ValueError):
                value = math.nan
            if not math.isfinite(value):
                raise MetricInputError(f"rows[{i}][{key!r}] must be a finite number, "
                                       f"got {row[key]!r}")
            values.append(value)
        families.setdefault(str(row["family"]), []).append(tuple(values))

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from kerasgan.images import atomic_write

    figure = Figure(figsize=(6.4, 4.8), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for family, points in families.items():
        points.sort()
        temperatures, xs, ys = zip(*points)
        axes.plot(xs, ys, marker="o", label=family)
        for t, px, py in points:
            axes.annotate(f"T={t:g}", (px, py), textcoords="offset points", xytext=(4, 4),
                          fontsize=7)
    axes.set_xlabel(_axis_label(x))
    axes.set_ylabel(_axis_label(y))
    if title is None:
        title = f"{_axis_label(y, hint=False)} vs {_axis_label(x, hint=False)} over temperature"
    axes.set_title(title)
    axes.margins(0.1)  # room for the temperature labels
    axes.grid(True, alpha=0.3)
    axes.legend(title="family")
    figure.tight_layout()
    return atomic_write(os.fspath(path), lambda tmp: figure.savefig(tmp, format="png"),
                        suffix=".png")
