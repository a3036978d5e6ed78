from tests.fakes.deriv.fixtures import fake_deriv  # noqa: F401
