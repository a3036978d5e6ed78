"""The pricing page: every plan with its prices and limits, for visitors and traders."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_a_visitor_compares_the_plans_and_learns_they_are_not_on_sale_without_stripe(client, settings):
    settings.BILLING = {**settings.BILLING, "STRIPE_SECRET_KEY": ""}
    page = client.get(reverse("billing:pricing")).content.decode()
    for text in ("Free", "Basic", "Pro", "Enterprise", "49 USD", "470 USD", "149 USD", "1,430 USD", "Contact us"):
        assert text in page
    assert "Plans are not on sale on this installation" in page
    assert "Bots running at once" in page and "Unlimited" in page


def test_a_trader_sees_their_plan_and_the_plan_a_refusal_pointed_to(client, user):
    client.force_login(user)
    page = client.get(reverse("billing:pricing") + "?plan=pro").content.decode()
    assert 'data-testid="current-plan"' in page
    assert "plan-card--wanted" in page
