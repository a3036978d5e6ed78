"""The trader's Deriv page: link state, Deriv accounts with balances, Refresh, Reset demo, Link, Unlink."""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.selectors import account_for_user
from apps.common.money import money_text
from apps.common.ratelimit import rate_limited

from .errors import DerivError
from .models import DerivLink
from .provider.views import sign_in_enabled
from .selectors import deriv_accounts_for, deriv_real_refusal
from .services import deriv_accounts_sync, deriv_demo_reset, deriv_unlink, reason_for


@login_required
@require_GET
def accounts(request: HttpRequest) -> HttpResponse:
    link = DerivLink.objects.filter(user=request.user).first()
    connect_url = None
    if sign_in_enabled():
        connect_url = f"{reverse('deriv_login')}?{urlencode({'process': 'connect', 'next': reverse('deriv:accounts')})}"
    deriv_accounts = deriv_accounts_for(user=request.user)
    return render(
        request,
        "deriv/accounts.html",
        {
            "link": link,
            "deriv_accounts": deriv_accounts,
            "connect_url": connect_url,
            # Real accounts link and show whatever the plan; trading them needs a plan that includes it.
            "real_refusal": deriv_real_refusal(user=request.user),
        },
    )


@login_required
@require_POST
@rate_limited("deriv_refresh")
def refresh(request: HttpRequest) -> HttpResponse:
    if not DerivLink.objects.filter(user=request.user).exists():
        messages.error(request, "Link Deriv first.")
        return redirect("deriv:accounts")
    try:
        found = deriv_accounts_sync(user=request.user)
    except DerivError as error:
        messages.error(request, reason_for(error))
    else:
        messages.success(request, f"Updated {len(found)} Deriv account{'s' if len(found) != 1 else ''} from Deriv.")
    return redirect("deriv:accounts")


@login_required
@require_POST
@rate_limited("demo_resets")
def reset(request: HttpRequest, pk: int) -> HttpResponse:
    account = account_for_user(user=request.user, pk=pk)
    try:
        deriv_demo_reset(user=request.user, account=account, request=request)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    except DerivError as error:
        messages.error(request, reason_for(error))
    else:
        messages.success(request, f"{account.label} reset at Deriv: {money_text(account.balance)} {account.currency}.")
    return redirect("deriv:accounts")


@login_required
@require_POST
def unlink(request: HttpRequest) -> HttpResponse:
    try:
        deriv_unlink(user=request.user, request=request)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "Deriv is unlinked: Nexus no longer holds any Deriv access.")
    return redirect("deriv:accounts")
