"""Settings: one page per section (Profile, Security, Trading, Responsible trading), each its own form."""

from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from apps.trading.limits import allowances

from .forms import LimitsForm, ProfileForm, SelfExclusionForm, TradingPreferencesForm
from .selectors import limit_maximum, responsible_trading_for, self_exclusion_until, user_timezone
from .services import profile_update, self_exclusion_set, trading_limits_set, trading_preferences_update


def _apply(form, error: ValidationError) -> None:
    """A service's refusal, each message next to its field."""
    for field, field_errors in error.message_dict.items():
        form.add_error(field if field in form.fields else None, field_errors)


def _page(request: HttpRequest, template: str, section: str, context: dict, *, failed: bool) -> HttpResponse:
    # A form with errors comes back as the page itself (200): a browser reports any 4xx answer to a page
    # load as a console error, and the errors are the page's to show, next to their fields.
    return render(request, template, {"section": section, "failed": failed, **context})


@login_required
def index(request: HttpRequest) -> HttpResponse:
    return redirect("settings:profile")


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    user = request.user
    form = ProfileForm(
        request.POST or None, initial={"display_name": user.display_name, "time_zone": str(user_timezone(user))}
    )
    if request.method == "POST" and form.is_valid():
        try:
            profile_update(user=user, request=request, **form.cleaned_data)
        except ValidationError as error:
            _apply(form, error)
        else:
            messages.success(request, "Profile saved: dates now show in your time zone.")
            return redirect("settings:profile")
    return _page(request, "settings/profile.html", "profile", {"form": form}, failed=bool(form.errors))


@login_required
@require_http_methods(["GET"])
def security(request: HttpRequest) -> HttpResponse:
    user = request.user
    types = set(Authenticator.objects.filter(user=user).values_list("type", flat=True))
    sessions = UserSession.objects.purge_and_list(user)
    context = {
        "totp_enabled": Authenticator.Type.TOTP in types,
        "recovery_codes_enabled": Authenticator.Type.RECOVERY_CODES in types,
        "sessions": sessions,
        "other_sessions": [s for s in sessions if not s.is_current()],
    }
    return _page(request, "settings/security.html", "security", context, failed=False)


@login_required
@require_http_methods(["GET", "POST"])
def trading(request: HttpRequest) -> HttpResponse:
    user = request.user
    fields = ("default_market", "default_stake", "default_duration", "default_duration_unit", "confirm_purchases")
    form = TradingPreferencesForm(request.POST or None, initial={name: getattr(user, name) for name in fields})
    if request.method == "POST" and form.is_valid():
        try:
            trading_preferences_update(user=user, request=request, **form.cleaned_data)
        except ValidationError as error:
            _apply(form, error)
        else:
            messages.success(request, "Trading preferences saved: the trade form starts with them.")
            return redirect("settings:trading")
    return _page(request, "settings/trading.html", "trading", {"form": form}, failed=bool(form.errors))


def _responsible_context(request: HttpRequest, *, limits_form=None, exclusion_form=None) -> dict:
    user = request.user
    row = responsible_trading_for(user)
    allowance = allowances(user_ids=[user.pk]).get(user.pk)
    return {
        "limits_form": limits_form
        or LimitsForm(initial={"daily_loss_limit": row.daily_loss_limit, "daily_stake_limit": row.daily_stake_limit}),
        "exclusion_form": exclusion_form or SelfExclusionForm(),
        "responsible": row,
        "allowance": allowance,
        "excluded_until": self_exclusion_until(user),
        "limit_maximum": limit_maximum(),
    }


@login_required
@require_http_methods(["GET", "POST"])
def responsible(request: HttpRequest) -> HttpResponse:
    """Two forms on one page: the daily limits, and the self-exclusion (its own submit button, named `pause`)."""
    limits_form = exclusion_form = None
    if request.method == "POST":
        if "pause" in request.POST:
            exclusion_form = SelfExclusionForm(request.POST)
            if exclusion_form.is_valid():
                try:
                    row = self_exclusion_set(
                        user=request.user, period=exclusion_form.cleaned_data["period"], request=request
                    )
                except ValidationError as error:
                    _apply(exclusion_form, error)
                else:
                    ends = timezone.localtime(row.excluded_until)
                    messages.success(request, f"Trading paused until {ends:%d %b %Y %H:%M %Z}: your bots have stopped.")
                    return redirect("settings:responsible")
        else:
            limits_form = LimitsForm(request.POST)
            if limits_form.is_valid():
                try:
                    trading_limits_set(user=request.user, request=request, **limits_form.cleaned_data)
                except ValidationError as error:
                    _apply(limits_form, error)
                else:
                    messages.success(request, "Your daily limits are saved.")
                    return redirect("settings:responsible")
    failed = bool((limits_form and limits_form.errors) or (exclusion_form and exclusion_form.errors))
    context = _responsible_context(request, limits_form=limits_form, exclusion_form=exclusion_form)
    return _page(request, "settings/responsible.html", "responsible", context, failed=failed)
