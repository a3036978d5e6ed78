from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRefresh

from .selectors import account_for_user, accounts_for, selected_account
from .services import account_open_demo, account_reset_demo, account_select

MAX_DEMO_ACCOUNTS = 5


def _back(request: HttpRequest) -> HttpResponse:
    if request.htmx:
        return HttpResponseClientRefresh()
    target = request.POST.get("next") or request.headers.get("referer") or "/"
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        target = "/"
    return redirect(target)


@login_required
@require_POST
def select(request: HttpRequest, pk: int) -> HttpResponse:
    account = account_select(user=request.user, account=account_for_user(user=request.user, pk=pk))
    messages.info(request, f"Now trading from {account.label}.")
    return _back(request)


@login_required
@require_POST
def reset(request: HttpRequest, pk: int) -> HttpResponse:
    account = account_for_user(user=request.user, pk=pk)
    try:
        account_reset_demo(user=request.user, account=account, request=request)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"{account.label} is back to {account.ledger_account.balance} {account.currency}.")
    return _back(request)


@login_required
@require_POST
def open_demo(request: HttpRequest) -> HttpResponse:
    count = accounts_for(user=request.user).filter(type="DEMO").count()
    if count >= MAX_DEMO_ACCOUNTS:
        messages.error(request, f"You can hold at most {MAX_DEMO_ACCOUNTS} demo accounts.")
    else:
        account = account_open_demo(user=request.user, label=f"Demo account {count + 1}")
        account_select(user=request.user, account=account)
        messages.success(request, f"Opened {account.label} with {account.ledger_account.balance} {account.currency}.")
    return _back(request)


@login_required
@require_GET
def balance(request: HttpRequest) -> HttpResponse:
    """The header's balance, refreshed after trades and settlements."""
    return render(request, "accounts/_balance.html", {"active_account": selected_account(user=request.user)})
