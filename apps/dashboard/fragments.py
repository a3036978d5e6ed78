"""The dashboard's live parts: the cards and the recent trades, the same partials the page renders."""

from django.template.loader import render_to_string

from apps.accounts.selectors import selected_account

from . import selectors


def live_context(account) -> dict:
    """What the dashboard's live parts show for `account`: its cards and its latest settled contracts."""
    return {"cards": selectors.cards(account=account), "recent": selectors.recent_trades(account=account)}


def dashboard_fragment(user) -> str:
    """The cards and the recent trades of the trader's selected account, each swapped in by its id."""
    account = selected_account(user=user)
    if account is None:
        return ""
    context = live_context(account)
    return render_to_string("dashboard/dashboard.html#cards", context) + render_to_string(
        "dashboard/dashboard.html#recent", context
    )
