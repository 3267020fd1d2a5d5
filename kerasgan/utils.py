"""Small argument checks shared by every layer of kerasgan: one of each.

The lowest module of the package (no TensorFlow, no Keras; it imports nothing
from kerasgan), so that data, models, metrics, export, zoo and the command line
all check integers, numbers, options, image shapes and translation directions
the same way and say the same thing when they refuse one. Each check takes the
exception class to raise (``error=``, default ``ValueError``): a layer raises
its own error type (``kerasgan.data.DataError``, ...) with the one wording.

Example:

>>> from kerasgan import utils
>>> utils.check_int(8, "batch_size")
8
>>> utils.check_image_shape([28, 28, 1])
(28, 28, 1)
>>> utils.check_direction("b2a")
'BtoA'
"""

import math
import numbers

#: the two translation directions of a pair ``(A, B)``
DIRECTIONS = ("AtoB", "BtoA")


def is_int(value):
    """Whether ``value`` is an integer (Python or NumPy), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_int(value, name, minimum=1, maximum=None, *, error=ValueError, expected=None):
    """An integer within ``[minimum, maximum]``, returned as a Python ``int``.

    Bools, floats (even ``2.0``) and strings are refused.

    Args:
        value: the value to check.
        name: its name in the message, e.g. ``"batch_size"``.
        minimum: smallest allowed value (None: no bound).
        maximum: largest allowed value (None: no bound).
        error: the exception class to raise.
        expected: what the message says ``name`` must be, for a caller with
            more to say than the bounds (``"a positive integer number of
            images"``); default ``"an integer >= {minimum}"`` and so on.

    Raises:
        error: ``"{name} must be an integer >= {minimum}, got {value!r}"`` (or
            ``"... <= {maximum}"``, ``"... in [minimum, maximum]"``; with
            ``expected``, ``"{name} must be {expected}, got {value!r}"``).
    """
    if expected is not None:
        what = expected
    elif minimum is not None and maximum is not None:
        what = f"an integer in [{minimum}, {maximum}]"
    elif minimum is not None:
        what = f"an integer >= {minimum}"
    elif maximum is not None:
        what = f"an integer <= {maximum}"
    else:
        what = "an integer"
    if not is_int(value) or (minimum is not None and value < minimum) or (
            maximum is not None and value > maximum):
        raise error(f"{name} must be {what}, got {value!r}")
    return int(value)


def check_number(value, name, ok=None, expected="a finite number", *, error=ValueError):
    """A finite real number (Python or NumPy, not a bool) for which ``ok``
    holds, returned as a Python ``float``.

    Args:
        value: the value to check.
        name: its name in the message, e.g. ``"gain"``.
        ok: a test of the float value, e.g. ``lambda v: v > 0`` (None: any).
        expected: what the message says ``name`` must be, e.g. ``"a positive
            number"``.
        error: the exception class to raise.

    Raises:
        error: ``"{name} must be {expected}, got {value!r}"`` (also for NaN,
            infinities, strings and bools).
    """
    if (not isinstance(value, numbers.Real) or isinstance(value, bool)
            or not math.isfinite(value) or (ok is not None and not ok(float(value)))):
        raise error(f"{name} must be {expected}, got {value!r}")
    return float(value)


def _same_kind(value, choice):
    if isinstance(choice, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(choice, bool)
    if is_int(choice):
        return is_int(value)
    return isinstance(value, type(choice))


def check_choice(value, name, choices, *, error=ValueError):
    """One of ``choices`` (compared by value and kind: ``True`` is not ``1``,
    ``3.0`` is not ``3``); returns the matching choice.

    Raises:
        error: ``"{name} must be A or B, got {value!r}"`` (``"one of A, B, C"``
            for more than two choices).
    """
    choices = tuple(choices)
    for choice in choices:
        if _same_kind(value, choice) and value == choice:
            return choice
    if len(choices) == 2:
        allowed = f"{choices[0]!r} or {choices[1]!r}"
    else:
        allowed = "one of " + ", ".join(repr(c) for c in choices)
    raise error(f"{name} must be {allowed}, got {value!r}")


def _channel_list(channels):
    channels = [int(c) for c in channels]
    if len(channels) == 1:
        return str(channels[0])
    return ", ".join(str(c) for c in channels[:-1]) + f" or {channels[-1]}"


def check_image_shape(shape, what="image_shape", *, channels=(1, 3, 4), min_size=1,
                      batch=False, error=ValueError):
    """An image shape ``(H, W, C)`` (or, with ``batch``, ``(N, H, W, C)``), as a
    tuple of ints.

    Dimensions must be integers (whole floats such as ``28.0`` are accepted),
    height and width at least ``min_size`` (and 1), the channel count one of
    ``channels``; with ``batch`` the count ``N`` may be 0.

    Args:
        shape: the shape (a tuple, list, ``TensorShape``, ``array.shape``).
        what: its name in messages.
        channels: allowed channel counts.
        min_size: smallest height and width.
        batch: check a batch shape ``(N, H, W, C)``.
        error: the exception class to raise.

    Raises:
        error: ``"{what} must be (height, width, channels), got ..."``
            (``"{what} must have shape (N, H, W, C) with C in 1, 3, 4, got ..."``
            for a batch),
            ``"{what} needs 1, 3 or 4 channels, got C"``, or
            ``"images must be at least 4x4 pixels, got 2x2"``.
    """
    rank = 4 if batch else 3
    channels = tuple(int(c) for c in channels)
    form = (f"have shape (N, H, W, C) with C in {', '.join(map(str, channels))}" if batch
            else "be (height, width, channels)")
    try:
        dims = tuple(shape)
        out = []
        for d in dims:
            if is_int(d):
                out.append(int(d))
            elif isinstance(d, float) and d.is_integer():
                out.append(int(d))
            else:
                raise TypeError(d)
        out = tuple(out)
    except (TypeError, ValueError):
        raise error(f"{what} must {form}, got {shape!r}") from None
    if len(out) != rank or min(out[-3:]) < 1 or out[0] < 0 or (batch and out[-1] not in channels):
        raise error(f"{what} must {form}, got {shape!r}")
    height, width, depth = out[-3:]
    if depth not in channels:
        raise error(f"{what} needs {_channel_list(channels)} channels, got {depth}")
    if height < min_size or width < min_size:
        raise error(f"images must be at least {min_size}x{min_size} pixels, got {height}x{width}")
    return out


def check_direction(direction, *, error=ValueError):
    """The translation direction of a pair ``(A, B)``: ``"AtoB"`` or ``"BtoA"``
    (case-insensitive; ``a2b``, ``a-to-b``, ``A_to_B`` too); returns the
    canonical form.

    Raises:
        error: anything else.
    """
    key = str(direction).lower().replace("2", "to").replace("-", "").replace("_", "")
    for d in DIRECTIONS:
        if key == d.lower():
            return d
    raise error(
        f"direction must be 'AtoB' (A -> B: the left half of a pair file to the right one) or "
        f"'BtoA' (B -> A), got {direction!r}: facades label map -> photo is 'BtoA'"
    )


__all__ = ["DIRECTIONS", "is_int", "check_int", "check_number", "check_choice",
           "check_image_shape", "check_direction"]
