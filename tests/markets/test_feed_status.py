from django.urls import reverse

from apps.markets.models import FeedStatus
from tests.support.mfa import sign_in


def test_the_feed_reports_one_subscription_per_market_and_no_upstream_calls(feed, markets):
    feed.tick(3)
    feed.report_status()
    status = FeedStatus.objects.get(source="OTC")
    assert status.markets == len(markets) == status.upstream_subscriptions
    assert status.upstream_calls_last_minute == 0
    assert status.ticks_last_minute == 4 * len(markets)
    assert status.is_alive


def test_staff_see_the_feed_status_and_traders_do_not(client, feed, user, django_user_model):
    feed.report_status()
    client.force_login(user)
    assert client.get(reverse("markets:feed_status")).status_code == 403
    staff = django_user_model.objects.create_user("staff@example.com", "pw-staff-123", is_staff=True)
    # As in the admin: staff enter their second factor first.
    sign_in(client, staff, mfa=False)
    response = client.get(reverse("markets:feed_status"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("mfa_activate_totp"))
    sign_in(client, staff, mfa=True)
    page = client.get(reverse("markets:feed_status")).content.decode()
    assert "running" in page
    assert 'data-testid="calls-OTC">0<' in page
