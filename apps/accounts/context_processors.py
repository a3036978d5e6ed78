from django.conf import settings

from .selectors import accounts_for
from .services import demo_balance


def active_account(request):
    """The header's account switcher: the selected account, its balance, and the others.

    Every page also gets what a demo account is funded with (`DEMO_BALANCE`), for the switcher and the home page.
    """
    demo = {"demo_balance": demo_balance(), "demo_currency": settings.NEXUS["DEMO_CURRENCY"]}
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return demo
    accounts = list(accounts_for(user=user))
    active = next((a for a in accounts if a.is_selected), accounts[0] if accounts else None)
    return {"active_account": active, "user_accounts": accounts, **demo}
