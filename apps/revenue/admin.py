from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.db.models import Count, DecimalField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from apps.common.admin import ReadOnlyAdmin
from apps.ledger.models import AccountKind, LedgerAccount, Realm

from .models import CommissionRule, Partner, Referral
from .services import (
    commission_rule_delete,
    commission_rule_save,
    commission_rule_validate,
    partner_affiliate_token_set,
    partners_active_set,
)


class CommissionRuleForm(forms.ModelForm):
    """The model's checks and history's (commission_rule_validate), each message next to its field."""

    class Meta:
        model = CommissionRule
        fields = ("realm", "source", "rate", "valid_from", "valid_until", "note")

    def _post_clean(self):
        super()._post_clean()
        if self.errors:
            return
        try:
            commission_rule_validate(self.instance)
        except ValidationError as exc:
            self._update_errors(exc)


@admin.register(CommissionRule)
class CommissionRuleAdmin(admin.ModelAdmin):
    """Rules are history once they start: end one (valid until) and add the next; only future ones are deleted."""

    form = CommissionRuleForm
    list_display = ("realm", "source", "rate", "valid_from", "valid_until", "note", "updated_at")
    list_filter = ("realm", "source")
    date_hierarchy = "valid_from"

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # one rule at a time, through commission_rule_delete
        return actions

    def save_model(self, request, obj, form, change):
        commission_rule_save(rule=obj, actor=request.user, request=request)

    def delete_model(self, request, obj):
        commission_rule_delete(rule=obj, actor=request.user, request=request)

    def delete_view(self, request, object_id, extra_context=None):
        """A started rule is never deleted: say so on its page instead of asking for confirmation."""
        rule = self.get_object(request, object_id)
        if rule is not None and rule.valid_from <= timezone.localdate():
            self.message_user(
                request,
                "This rule has started, so contracts may carry its rate: it is kept. "
                "End it instead (set “valid until”).",
                messages.ERROR,
            )
            return HttpResponseRedirect(reverse("admin:revenue_commissionrule_change", args=[rule.pk]))
        return super().delete_view(request, object_id, extra_context)


def _earnings(realm: str):
    """The balance of a partner's earnings accounts in one realm (all currencies of a realm are USD today)."""
    accounts = (
        LedgerAccount.objects.filter(owner=OuterRef("user"), kind=AccountKind.PARTNER, realm=realm)
        .order_by()
        .values("owner")
        .annotate(total=Sum("balance"))
        .values("total")
    )
    money = DecimalField(max_digits=20, decimal_places=2)
    return Coalesce(Subquery(accounts, output_field=money), Value(Decimal("0.00")), output_field=money)


class AffiliateTokenForm(forms.Form):
    token = forms.CharField(
        label="Deriv affiliate token", max_length=100, required=False, help_text="Empty: none is passed on."
    )


@admin.register(Partner)
class PartnerAdmin(ReadOnlyAdmin):
    """Partners are their own users' settings: staff see them, and enable, disable or set the Deriv token."""

    list_display = ("code", "user", "markup_rate", "is_active", "referrals_count", "real_earnings", "demo_earnings")
    list_filter = ("is_active",)
    search_fields = ("code", "user__email")
    list_select_related = ("user",)
    readonly_fields = ("user", "code", "markup_rate", "deriv_affiliate_token", "is_active", "created_at")
    actions = ("disable_partners", "enable_partners", "set_affiliate_token")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                referrals_total=Count("referrals", distinct=True),
                real_total=_earnings(Realm.REAL),
                demo_total=_earnings(Realm.DEMO),
            )
        )

    @admin.display(description="Referrals", ordering="referrals_total")
    def referrals_count(self, obj):
        return obj.referrals_total

    @admin.display(description="Earnings (real)", ordering="real_total")
    def real_earnings(self, obj):
        return obj.real_total

    @admin.display(description="Earnings (demo)", ordering="demo_total")
    def demo_earnings(self, obj):
        return obj.demo_total

    @admin.action(description="Disable the selected partners (their codes attribute nobody)")
    def disable_partners(self, request, queryset):
        done = partners_active_set(
            partner_ids=queryset.values_list("pk", flat=True), active=False, actor=request.user, request=request
        )
        self.message_user(request, f"Disabled {done} partner(s).")

    @admin.action(description="Enable the selected partners")
    def enable_partners(self, request, queryset):
        done = partners_active_set(
            partner_ids=queryset.values_list("pk", flat=True), active=True, actor=request.user, request=request
        )
        self.message_user(request, f"Enabled {done} partner(s).")

    @admin.action(description="Set the Deriv affiliate token (one partner)")
    def set_affiliate_token(self, request, queryset):
        partners = list(queryset[:2])
        if len(partners) != 1:
            self.message_user(request, "Choose exactly one partner to set their Deriv affiliate token.", messages.ERROR)
            return None
        partner = partners[0]
        if "apply" in request.POST:
            form = AffiliateTokenForm(request.POST)
            if form.is_valid():
                try:
                    partner_affiliate_token_set(
                        partner=partner, token=form.cleaned_data["token"], actor=request.user, request=request
                    )
                except ValidationError as exc:
                    form.add_error("token", exc)
                else:
                    self.message_user(request, f"Deriv affiliate token of {partner.code} saved.")
                    return None
        else:
            form = AffiliateTokenForm(initial={"token": partner.deriv_affiliate_token})
        context = {
            **self.admin_site.each_context(request),
            "title": f"Deriv affiliate token of {partner.code}",
            "opts": self.model._meta,
            "partner": partner,
            "form": form,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "revenue/staff_affiliate_token.html", context)


@admin.register(Referral)
class ReferralAdmin(ReadOnlyAdmin):
    """Attribution is decided once at sign-up and never changes."""

    list_display = ("user", "partner", "via", "code_used", "first_touch_at", "created_at")
    list_filter = ("via",)
    search_fields = ("user__email", "partner__code", "code_used")
    list_select_related = ("user", "partner")
    readonly_fields = ("user", "partner", "via", "code_used", "first_touch_at", "created_at")
    date_hierarchy = "created_at"
