from django.urls import reverse

from apps.markets.models import Candle, Tick


def test_candles_come_from_the_stored_candles(client, user, feed):
    feed.tick(5)
    client.force_login(user)
    response = client.get(reverse("markets:candles", args=["OTC_EUR_USD"]), {"tf": 60})
    assert response.status_code == 200
    stored = Candle.objects.filter(market__symbol="OTC_EUR_USD", timeframe=60).order_by("start")
    got = response.json()["candles"]
    assert [c["time"] for c in got] == [int(c.start.timestamp()) for c in stored]
    assert got[-1]["close"] == str(stored.last().close)


def test_ticks_after_a_sequence_fill_a_gap_in_order(client, user, feed):
    feed.tick(6)
    client.force_login(user)
    response = client.get(reverse("markets:ticks", args=["OTC_EUR_USD"]), {"after": 3})
    seqs = [t["seq"] for t in response.json()["ticks"]]
    last = Tick.objects.filter(market__symbol="OTC_EUR_USD").order_by("-seq").first().seq
    assert seqs == list(range(4, last + 1))


def test_bad_history_parameters_are_refused(client, user, feed):
    client.force_login(user)
    assert client.get(reverse("markets:candles", args=["OTC_EUR_USD"]), {"tf": 61}).status_code == 400
    assert client.get(reverse("markets:ticks", args=["OTC_EUR_USD"]), {"after": "x"}).status_code == 400
    assert client.get(reverse("markets:ticks", args=["NOPE"])).status_code == 404


def test_history_needs_a_signed_in_user(client, feed):
    assert client.get(reverse("markets:ticks", args=["OTC_EUR_USD"])).status_code == 302
