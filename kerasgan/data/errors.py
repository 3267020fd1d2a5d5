"""The single exception type raised by `kerasgan.data` for bad input."""


class DataError(ValueError):
    """A data source or data option is invalid.

    Every `DataError` carries one line that says what is wrong and what to do
    about it, so that the command line interface can print it as is.
    It subclasses `ValueError`, so existing `except ValueError` code catches it.

    Example:

    >>> from kerasgan import data
    >>> try:
    ...     data.open_source("no/such/folder")
    ... except data.DataError as e:
    ...     print("error:", e)  # doctest: +ELLIPSIS
    error: data source 'no/such/folder' not found: ...
    """
