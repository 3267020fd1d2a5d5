"""The package version, in the lowest layer so any module can read it without
importing the package root (which imports every layer)."""

__version__ = "0.1.0"
