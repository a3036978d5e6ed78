"""Billing in the Django admin: plans edited (audited old → new), subscriptions read-only with audited grants,
Stripe events read-only."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from apps.common.admin import ReadOnlyAdmin

from .models import Plan, StripeEvent, Subscription
from .services import plan_grant, plan_grant_end, plan_save


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "code",
        "rank",
        "monthly_price",
        "yearly_price",
        "max_running_bots",
        "max_bots",
        "max_backtest_days",
        "deriv_real_trading",
        "sold_by_contact",
    )
    ordering = ("rank",)
    fieldsets = (
        (None, {"fields": ("code", "name", "rank", "description")}),
        (
            "Prices",
            {
                "fields": (
                    "currency",
                    "monthly_price",
                    "yearly_price",
                    "stripe_price_monthly",
                    "stripe_price_yearly",
                    "sold_by_contact",
                )
            },
        ),
        (
            "Limits (empty: no limit)",
            {
                "fields": (
                    "max_running_bots",
                    "max_bots",
                    "max_concurrent_backtests",
                    "max_backtest_days",
                    "deriv_real_trading",
                    "live_trading",
                    "max_exchange_connections",
                    "max_open_positions",
                    "max_trades_per_day",
                    "email_alerts",
                    "history_days",
                )
            },
        ),
    )

    def get_readonly_fields(self, request, obj=None):
        # Subscriptions and settings name plans by code: it is set once.
        return ("code",) if obj else ()

    def save_model(self, request, obj, form, change):
        plan_save(plan=obj, actor=request.user, request=request)

    def has_delete_permission(self, request, obj=None):
        # Subscriptions and the audit trail refer to plans: a plan is edited, never deleted.
        return False


class GrantForm(forms.Form):
    email = forms.EmailField(label="User's email")
    plan = forms.ModelChoiceField(queryset=Plan.objects.all())
    until = forms.DateTimeField(
        required=False, label="Until (UTC)", help_text="Empty: until an admin ends the grant. Format: 2027-01-31 00:00"
    )
    note = forms.CharField(max_length=200, required=False, help_text="Why, for the audit trail and the user.")

    def clean_email(self):
        email = self.cleaned_data["email"]
        user = get_user_model().objects.filter(email__iexact=email).first()
        if user is None:
            raise ValidationError("No user has this email.")
        self.user = user
        return email


class EndGrantForm(forms.Form):
    note = forms.CharField(max_length=200, required=False, help_text="Why, for the audit trail and the user.")


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    """Read-only: Stripe's webhooks write subscriptions. Admins grant a plan by hand, audited, with no Stripe."""

    list_display = ("user", "plan", "source", "status", "current_period_end", "past_due_since", "updated_at")
    list_filter = ("source", "status", "plan")
    search_fields = ("user__email", "stripe_customer_id", "stripe_subscription_id")
    list_select_related = ("user", "plan")
    actions = ("end_grant",)
    change_list_template = "admin/billing/subscription/change_list.html"

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff

    def get_urls(self):
        grant = path("grant/", self.admin_site.admin_view(self.grant_view), name="billing_subscription_grant")
        return [grant, *super().get_urls()]

    def grant_view(self, request):
        """Grant a plan: choose the user, the plan, an optional end and a note."""
        if not self.has_grant_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            form = GrantForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    plan_grant(
                        user=form.user,
                        plan=data["plan"],
                        until=data["until"],
                        actor=request.user,
                        note=data["note"],
                        request=request,
                    )
                except ValidationError as exc:
                    if hasattr(exc, "error_dict"):
                        for field, errors in exc.error_dict.items():
                            form.add_error(field if field in form.fields else None, errors)
                    else:
                        form.add_error(None, exc)
                else:
                    self.message_user(request, f"Granted {data['plan'].name} to {form.user}.")
                    return HttpResponseRedirect(reverse("admin:billing_subscription_changelist"))
        else:
            form = GrantForm(initial={"email": request.GET.get("email", "")})
        context = {
            **self.admin_site.each_context(request),
            "title": "Grant a plan",
            "opts": self.model._meta,
            "form": form,
        }
        return TemplateResponse(request, "admin/billing/subscription/grant.html", context)

    @admin.action(description="End the selected grants (back to the default plan)", permissions=["grant"])
    def end_grant(self, request, queryset):
        subscriptions = list(queryset.select_related("user")[:50])
        if "apply" in request.POST:
            form = EndGrantForm(request.POST)
            if form.is_valid():
                ended = 0
                for subscription in subscriptions:
                    try:
                        plan_grant_end(
                            user=subscription.user, actor=request.user, note=form.cleaned_data["note"], request=request
                        )
                    except ValidationError as exc:
                        self.message_user(request, " ".join(exc.messages), messages.WARNING)
                    else:
                        ended += 1
                self.message_user(request, f"Ended {ended} grant(s).")
                return None
        else:
            form = EndGrantForm()
        context = {
            **self.admin_site.each_context(request),
            "title": "End grants",
            "opts": self.model._meta,
            "subscriptions": subscriptions,
            "form": form,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/billing/subscription/end_grant.html", context)

    def has_grant_permission(self, request, obj=None):
        # Grants change subscriptions through the services; the change form itself stays read-only.
        return request.user.has_perm("billing.change_subscription")

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "may_grant": self.has_grant_permission(request)}
        return super().changelist_view(request, extra_context)


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ("event_id", "type", "received_at", "applied_at", "error")
    list_filter = ("type",)
    search_fields = ("event_id",)
    date_hierarchy = "received_at"
