"""A partner's referrals page, the forms that change their code and markup, and the short referral link."""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from . import selectors
from .forms import CodeForm, MarkupForm
from .middleware import CODE_PATTERN
from .services import partner_code_set, partner_for, partner_markup_set

PAGE_SIZE = 20


def _percent(rate) -> str:
    """A rate as a partner typed it: 10, 12.5."""
    return f"{rate.normalize():f}"


def _chart(partner) -> list[dict]:
    """The daily earnings as lightweight-charts histogram data (day strings and numbers, display only)."""
    return [
        {
            "label": series["label"],
            "points": [{"time": day.isoformat(), "value": float(value)} for day, value in series["points"]],
        }
        for series in selectors.partner_daily_earnings(partner)
    ]


def _page(request: HttpRequest, *, code_form=None, markup_form=None, status: int = 200) -> HttpResponse:
    partner = selectors.partner_of(request.user)
    if partner is None:
        # Users from before referrals existed: a GET changes nothing, the button below makes the code.
        return render(request, "revenue/referrals_start.html", status=status)
    link = request.build_absolute_uri(reverse("revenue:short_link", args=[partner.code]))
    context = {
        "partner": partner,
        "link": link,
        "code_form": code_form or CodeForm(initial={"code": partner.code}),
        "markup_form": markup_form or MarkupForm(initial={"markup": _percent(partner.markup_rate)}),
        "stats": selectors.partner_referral_stats(partner),
        "earnings": selectors.partner_earnings(partner),
        "chart": _chart(partner),
        "traders": Paginator(selectors.partner_referred_traders(partner), PAGE_SIZE).get_page(
            request.GET.get("traders")
        ),
        "markups": Paginator(selectors.partner_markup_per_contract(partner), PAGE_SIZE).get_page(
            request.GET.get("page")
        ),
    }
    return render(request, "revenue/referrals.html", context, status=status)


@login_required
@require_GET
def referrals(request: HttpRequest) -> HttpResponse:
    return _page(request)


@login_required
@require_POST
def partner_start(request: HttpRequest) -> HttpResponse:
    """Give a user who has none their referral code and link."""
    partner_for(request.user)
    return redirect("revenue:referrals")


@login_required
@require_POST
def code_change(request: HttpRequest) -> HttpResponse:
    form = CodeForm(request.POST)
    if form.is_valid():
        try:
            partner = partner_code_set(user=request.user, code=form.cleaned_data["code"], request=request)
        except ValidationError as error:
            form.add_error("code", error)
        else:
            messages.success(request, f"Your referral code is now “{partner.code}”.")
            return redirect("revenue:referrals")
    return _page(request, code_form=form, status=422)


@login_required
@require_POST
def markup_change(request: HttpRequest) -> HttpResponse:
    form = MarkupForm(request.POST)
    if form.is_valid():
        try:
            partner = partner_markup_set(user=request.user, markup=form.cleaned_data["markup"], request=request)
        except ValidationError as error:
            form.add_error("markup", error)
        else:
            messages.success(
                request,
                f"Your markup is now {_percent(partner.markup_rate)}% for contracts bought from now on; "
                "open contracts keep their rate.",
            )
            return redirect("revenue:referrals")
    return _page(request, markup_form=form, status=422)


@require_GET
def short_link(request: HttpRequest, code: str) -> HttpResponse:
    """A partner's link: to the sign-up page, carrying the code (the middleware keeps it in a cookie)."""
    url = reverse("account_signup")
    if CODE_PATTERN.match(code):
        url += "?" + urlencode({"ref": code})
    return redirect(url)
