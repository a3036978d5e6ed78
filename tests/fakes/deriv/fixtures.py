"""pytest fixtures around FakeDeriv: `from tests.fakes.deriv.fixtures import fake_deriv_fixture` in a conftest.py
provides the `fake_deriv` fixture."""

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


@pytest.fixture(name="fake_deriv")
def fake_deriv_fixture():
    """A fake Deriv with a frozen clock (advance it with `fake_deriv.advance(seconds)`).

    The test fails if our code sent it any request that Deriv's schemas (New API) refuse;
    a test that sends one on purpose takes it with `fake_deriv.take_invalid_requests()`.
    """
    with running_fake_deriv() as fake:
        yield fake
