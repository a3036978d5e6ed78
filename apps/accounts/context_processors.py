from .selectors import accounts_for


def active_account(request):
    """The header's account switcher: the selected account, its balance, and the others."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    accounts = list(accounts_for(user=user))
    active = next((a for a in accounts if a.is_selected), accounts[0] if accounts else None)
    return {"active_account": active, "user_accounts": accounts}
