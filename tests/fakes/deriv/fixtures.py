"""pytest fixtures around FakeDeriv: import them into a conftest.py."""

from contextlib import contextmanager

import pytest

from .server import FakeDeriv


@contextmanager
def running_fake_deriv(**options):
    """A started FakeDeriv; on exit it stops and fails if any request broke Deriv's schemas."""
    fake = FakeDeriv(**options).start()
    try:
        yield fake
    finally:
        fake.stop()
    fake.assert_no_invalid_requests()


@pytest.fixture
def fake_deriv():
    """A fake Deriv with a frozen clock (advance it with `fake_deriv.advance(seconds)`).

    The test fails if our code sent it any request that Deriv's schemas (New API) refuse;
    a test that sends one on purpose takes it with `fake_deriv.take_invalid_requests()`.
    """
    with running_fake_deriv() as fake:
        yield fake
