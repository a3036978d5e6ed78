from django.template.loader import render_to_string

from .selectors import selected_account


def balance_fragment(user) -> str:
    return render_to_string("accounts/_balance.html", {"active_account": selected_account(user=user)})
