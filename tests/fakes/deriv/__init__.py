"""A faithful fake of Deriv's New API for tests and local development (API.md §10)."""

from .server import FakeDeriv

__all__ = ["FakeDeriv"]
