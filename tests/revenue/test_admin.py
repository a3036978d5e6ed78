"""Revenue in the Django admin: rules validated and audited, started rules kept, partner actions audited."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.revenue.models import CommissionRule, Partner, Referral
from tests.revenue.support import commission_rule, partner, refer

TODAY = timezone.localdate


def day(offset: int) -> str:
    return str(TODAY() + datetime.timedelta(days=offset))


def rule_data(**values) -> dict:
    return {"realm": "DEMO", "source": "", "rate": "15", "valid_from": day(1), "valid_until": "", "note": "", **values}


def add(admin_client, **values):
    return admin_client.post(reverse("admin:revenue_commissionrule_add"), rule_data(**values))


def events(action: str):
    return AuditEvent.objects.filter(action=action).order_by("pk")


def test_adding_a_rule_saves_it_and_audits_its_values(admin_client, admin_user):
    response = add(admin_client, rate="12.50", note="launch")

    assert response.status_code == 302
    rule = CommissionRule.objects.get()
    assert (rule.rate, rule.note) == (Decimal("12.50"), "launch")
    event = events("commission_rule.add").get()
    assert event.actor == admin_user and event.target_id == str(rule.pk)
    assert event.data["changed"]["rate"] == [None, "12.50"]


@pytest.mark.parametrize("rate", ["-1", "50.01", "80"])
def test_a_rate_outside_0_to_50_is_refused_next_to_the_field(admin_client, rate):
    response = add(admin_client, rate=rate)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["rate"]
    assert not CommissionRule.objects.exists() and not events("commission_rule.add").exists()


def test_an_overlapping_rule_is_refused_next_to_its_start(admin_client):
    commission_rule("20.00", days_ago=5)

    response = add(admin_client, valid_from=day(3))

    errors = response.context["adminform"].form.errors
    assert "Overlaps the rule" in errors["valid_from"][0]
    assert CommissionRule.objects.count() == 1


def test_a_new_rule_cannot_start_in_the_past(admin_client):
    response = add(admin_client, valid_from=day(-2))

    assert "cannot start in the past" in response.context["adminform"].form.errors["valid_from"][0]


def test_changing_a_future_rule_audits_old_and_new(admin_client):
    add(admin_client, rate="15")
    rule = CommissionRule.objects.get()

    response = admin_client.post(
        reverse("admin:revenue_commissionrule_change", args=[rule.pk]), rule_data(rate="18", valid_until=day(30))
    )

    assert response.status_code == 302
    changed = events("commission_rule.change").get().data["changed"]
    assert changed == {"rate": ["15.00", "18.00"], "valid_until": [None, day(30)]}


def test_a_started_rule_keeps_its_rate_but_can_be_ended(admin_client):
    rule = commission_rule("20.00", days_ago=3)
    url = reverse("admin:revenue_commissionrule_change", args=[rule.pk])
    kept = {"rate": "20.00", "valid_from": str(rule.valid_from)}

    refused = admin_client.post(url, rule_data(**{**kept, "rate": "25"}))
    assert "only its end and its note can change" in refused.context["adminform"].form.errors["rate"][0]
    backdated = admin_client.post(url, rule_data(**kept, valid_until=day(-1)))
    assert "cannot end in the past" in backdated.context["adminform"].form.errors["valid_until"][0]

    ended = admin_client.post(url, rule_data(**kept, valid_until=day(0)))
    assert ended.status_code == 302
    rule.refresh_from_db()
    assert (rule.rate, rule.valid_until) == (Decimal("20.00"), TODAY())
    assert events("commission_rule.change").get().data["changed"] == {"valid_until": [None, day(0)]}


def test_a_started_rule_is_never_deleted(admin_client):
    rule = commission_rule("20.00", days_ago=0)
    url = reverse("admin:revenue_commissionrule_delete", args=[rule.pk])

    for response in (admin_client.get(url), admin_client.post(url, {"post": "yes"})):
        assert response.status_code == 302
        assert response["Location"] == reverse("admin:revenue_commissionrule_change", args=[rule.pk])
    assert CommissionRule.objects.filter(pk=rule.pk).exists()
    page = admin_client.get(reverse("admin:revenue_commissionrule_change", args=[rule.pk])).content.decode()
    assert "End it instead" in page
    assert (
        "delete_selected" not in admin_client.get(reverse("admin:revenue_commissionrule_changelist")).content.decode()
    )


def test_a_future_rule_is_deleted_and_audited(admin_client):
    add(admin_client, rate="15")
    rule = CommissionRule.objects.get()

    response = admin_client.post(reverse("admin:revenue_commissionrule_delete", args=[rule.pk]), {"post": "yes"})

    assert response.status_code == 302
    assert not CommissionRule.objects.exists()
    assert events("commission_rule.delete").get().data["changed"]["rate"] == ["15.00", None]


def test_partners_are_listed_with_referrals_and_earnings_and_searchable(admin_client, user):
    ada = partner("ada")
    refer(user, ada)
    partner("bob")
    url = reverse("admin:revenue_partner_changelist")

    page = admin_client.get(url).content.decode()
    assert "ada" in page and "bob" in page
    ada_row = admin_client.get(url, {"q": "ada@partners"}).context["cl"].result_list
    assert [(p.code, p.referrals_total, p.real_total) for p in ada_row] == [("ada", 1, Decimal("0.00"))]
    assert admin_client.get(reverse("admin:revenue_partner_change", args=[ada.pk])).status_code == 200
    assert admin_client.post(reverse("admin:revenue_partner_add"), {}).status_code == 403


def action(admin_client, name, partners, **extra):
    return admin_client.post(
        reverse("admin:revenue_partner_changelist"),
        {"action": name, "_selected_action": [p.pk for p in partners], **extra},
    )


def test_disabling_and_enabling_partners_is_audited(admin_client, admin_user):
    ada, bob = partner("ada"), partner("bob")

    action(admin_client, "disable_partners", [ada, bob])
    assert not Partner.objects.filter(is_active=True).exists()
    action(admin_client, "enable_partners", [ada])

    assert list(Partner.objects.filter(is_active=True)) == [ada]
    assert events("partner.disable").count() == 2
    enabled = events("partner.enable").get()
    assert (enabled.target_id, enabled.data, enabled.actor) == (str(ada.pk), {"old": False, "new": True}, admin_user)


def test_the_deriv_affiliate_token_is_set_through_an_audited_form(admin_client):
    ada = partner("ada")

    form = action(admin_client, "set_affiliate_token", [ada])
    assert form.status_code == 200 and "Deriv affiliate token of ada" in form.content.decode()
    bad = action(admin_client, "set_affiliate_token", [ada], apply="1", token="has spaces!")
    assert bad.status_code == 200 and bad.context["form"].errors["token"]
    done = action(admin_client, "set_affiliate_token", [ada], apply="1", token="aff_TOKEN-1")

    assert done.status_code == 302
    ada.refresh_from_db()
    assert ada.deriv_affiliate_token == "aff_TOKEN-1"
    assert events("partner.affiliate_token").get().data == {"old": "", "new": "aff_TOKEN-1"}


def test_the_token_action_takes_one_partner(admin_client):
    response = action(admin_client, "set_affiliate_token", [partner("ada"), partner("bob")], apply="1", token="x")
    assert response.status_code == 302
    assert not Partner.objects.exclude(deriv_affiliate_token="").exists()


def test_referrals_are_read_only(admin_client, user):
    referral = refer(user, partner("ada"))
    change = reverse("admin:revenue_referral_change", args=[referral.pk])

    assert admin_client.get(reverse("admin:revenue_referral_changelist"), {"q": "ada"}).status_code == 200
    assert admin_client.get(change).status_code == 200
    admin_client.post(change, {"partner": referral.partner_id, "via": "DEFAULT"})
    assert (
        admin_client.post(reverse("admin:revenue_referral_delete", args=[referral.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert Referral.objects.get().via == "LINK"
