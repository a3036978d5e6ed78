"""`runfeed` runs the OTC feed and every outside feed an app answers `feeds_requested` with."""

import io
import signal
import threading

import pytest
from django.core.management import CommandError, call_command

from apps.markets.feed import OutsideFeed
from apps.markets.signals import feeds_requested


@pytest.fixture(autouse=True)
def signal_handlers():
    """runfeed installs its own SIGTERM and SIGINT handlers: the test run gets its own back."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


@pytest.fixture
def outside():
    """An outside source answering `feeds_requested`: `answer` is what it returns."""
    runs = []

    def run(should_stop):
        runs.append((threading.current_thread().name, should_stop()))

    state = {"answer": OutsideFeed(name="elsewhere", note="Elsewhere feed running.", run=run), "runs": runs}
    feeds_requested.connect(lambda sender, **kwargs: state["answer"], dispatch_uid="test.elsewhere", weak=False)
    yield state
    feeds_requested.disconnect(dispatch_uid="test.elsewhere")


def test_an_outside_source_runs_alone_on_its_own_thread(outside, transactional_db):
    out = io.StringIO()
    call_command("runfeed", "--source", "elsewhere", stdout=out)
    assert outside["runs"] == [("elsewhere-feed", False)]
    assert out.getvalue().splitlines() == ["Elsewhere feed running.", "Feed stopped."]


def test_an_outside_source_that_is_off_refuses_with_its_reason(outside, db):
    outside["answer"] = OutsideFeed(name="elsewhere", note="The Elsewhere feed is off: set ELSEWHERE=on.")
    with pytest.raises(CommandError, match="ELSEWHERE=on"):
        call_command("runfeed", "--source", "elsewhere")
    assert outside["runs"] == []


def test_an_unknown_source_is_refused(outside, db):
    with pytest.raises(CommandError, match="Unknown source 'nowhere': choose one of all, otc, .*elsewhere"):
        call_command("runfeed", "--source", "nowhere")
