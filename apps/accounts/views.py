from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from apps.common.http import redirect_back
from apps.common.money import money_text
from apps.common.ratelimit import rate_limited

from .models import AccountType
from .selectors import account_for_user, accounts_for, selected_account
from .services import account_open_demo, account_reset_demo, account_select


@login_required
@require_POST
def select(request: HttpRequest, pk: int) -> HttpResponse:
    account = account_select(user=request.user, account=account_for_user(user=request.user, pk=pk))
    messages.info(request, f"Now trading from {account.label}.")
    return redirect_back(request)


@login_required
@require_GET
def reset_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    """Asks before a demo reset: the page behind the switcher's Reset link when no script opens its dialog."""
    account = account_for_user(user=request.user, pk=pk)
    if account.type != AccountType.DEMO:
        raise Http404("Only demo accounts can be reset.")
    target = request.GET.get("next", "")
    ours = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return render(
        request,
        "accounts/reset_confirm.html",
        {"account": account, "next": target if ours else reverse("trading:trade")},
    )


@login_required
@require_POST
@rate_limited("demo_resets")
def reset(request: HttpRequest, pk: int) -> HttpResponse:
    account = account_for_user(user=request.user, pk=pk)
    try:
        account_reset_demo(user=request.user, account=account, request=request)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request, f"{account.label} is back to {money_text(account.ledger_account.balance)} {account.currency}."
        )
    return redirect_back(request)


@login_required
@require_POST
def open_demo(request: HttpRequest) -> HttpResponse:
    count = accounts_for(user=request.user).filter(type=AccountType.DEMO).count()
    try:
        account = account_open_demo(user=request.user, label=f"Demo account {count + 1}")
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        account_select(user=request.user, account=account)
        messages.success(
            request, f"Opened {account.label} with {money_text(account.ledger_account.balance)} {account.currency}."
        )
    return redirect_back(request)


@login_required
@require_GET
def balance(request: HttpRequest) -> HttpResponse:
    """The header's balance, refreshed after trades and settlements."""
    return render(request, "accounts/_balance.html", {"active_account": selected_account(user=request.user)})
