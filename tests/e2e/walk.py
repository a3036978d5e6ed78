"""Every page of Nexus, with the data each needs, at a phone's size and a desktop's.

Used by the walk (test_walk.py: no horizontal overflow, no console error, no
CSP violation on any page) and by `scripts/screenshots` (test_screenshots.py).
The checks are about properties of the page, not its markup: other parts of
the site change what the pages contain.
"""

import time
from dataclasses import dataclass, field
from decimal import Decimal

from django.test import Client
from django.urls import reverse

PASSWORD = "a-long-demo-passphrase"
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1440, "height": 900}}

# Recorded in the page before any of its scripts run: each CSP violation, each console error.
WATCH = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


@dataclass
class Walk:
    """What the walk visits: (name, path) per kind of visitor, and the users to sign in as."""

    trader: object
    staff: object
    staff_secret: str
    trader_pages: list[tuple[str, str]] = field(default_factory=list)
    staff_pages: list[tuple[str, str]] = field(default_factory=list)
    visitor_pages: list[tuple[str, str]] = field(default_factory=list)


def _verified_user(django_user_model, email: str, **extra):
    from allauth.account.models import EmailAddress

    user = django_user_model.objects.create_user(email, PASSWORD, **extra)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def _settled_contract(account, market):
    """A one-tick contract bought now and settled by the running feed."""
    from apps.trading.models import Contract, Status
    from apps.trading.services import contract_buy

    contract = contract_buy(
        user=account.user,
        account=account,
        market=market,
        direction="RISE",
        stake=Decimal("10.00"),
        duration=1,
        duration_unit="t",
        idempotency_key="walk-settled",
    )
    deadline = time.monotonic() + 30
    while Contract.objects.get(pk=contract.pk).status in (Status.OPEN, Status.PENDING):
        if time.monotonic() > deadline:
            raise AssertionError("The walk's contract did not settle in 30 s: is the feed running?")
        time.sleep(0.2)
    return contract


def walk_setup(django_user_model) -> Walk:
    """A trader with a settled contract, an open one, a notification, a bot and a finished backtest; a staff
    user with an authenticator app. Needs the running feed (it settles the contract)."""
    from apps.accounts.services import account_open_demo
    from apps.bots.models import Backtest, Bot
    from apps.exchanges.models import Purpose, Side
    from apps.exchanges.services.connections import paper_connection
    from apps.exchanges.services.orders import order_send
    from apps.markets.models import Market
    from apps.revenue.services import partner_for
    from apps.trading.services import contract_buy
    from tests.bots.test_backtests import backtest_form
    from tests.bots.test_views import bot_form
    from tests.exchanges.support import spot_bot_make, spot_market
    from tests.support.mfa import totp_activate

    trader = _verified_user(django_user_model, "trader@example.com")
    account = account_open_demo(user=trader)
    partner_for(trader)  # the referrals page with the trader's link (sign-up gives every trader one)
    market = Market.objects.get(symbol="OTC_EUR_USD")
    settled = _settled_contract(account, market)
    # One open position too, long enough to stay open through the walk.
    contract_buy(
        user=trader,
        account=account,
        market=market,
        direction="FALL",
        stake=Decimal("25.00"),
        duration=60,
        duration_unit="m",
        idempotency_key="walk-open",
    )

    # The bot and the backtest go through their forms, as a trader makes them.
    client = Client()
    client.force_login(trader)
    client.post(reverse("bots:new"), bot_form(market, account, name="Walk bot"))
    bot = Bot.objects.get(user=trader)
    client.post(reverse("bots:backtest_new"), backtest_form(market, name="Walk backtest", length="300"))
    backtest = Backtest.objects.get(user=trader)
    deadline = time.monotonic() + 60
    while Backtest.objects.get(pk=backtest.pk).status not in ("DONE", "FAILED"):
        if time.monotonic() > deadline:
            raise AssertionError("The walk's backtest did not finish in 60 s.")
        time.sleep(0.2)

    # The paper exchange with an open position, and a spot bot on it.
    spot = spot_market()
    paper = paper_connection(user=trader)
    order_send(
        connection=paper, market=spot, side=Side.BUY, amount=Decimal("0.01"), purpose=Purpose.OPEN, client_id="walk"
    )
    spot_bot = spot_bot_make(trader, paper, spot, name="Walk spot bot")

    staff = _verified_user(django_user_model, "staff@example.com", is_staff=True)
    account_open_demo(user=staff)
    _, secret = totp_activate(staff)

    walk = Walk(trader=trader, staff=staff, staff_secret=secret)
    walk.trader_pages = [
        ("dashboard", reverse("dashboard:home")),
        ("dashboard-all", f"{reverse('dashboard:home')}?range=all"),
        ("trade", reverse("trading:trade")),
        ("trade-vol", f"{reverse('trading:trade')}?market=VOL_10"),
        ("history", reverse("trading:history")),
        ("contract", reverse("trading:contract", args=[settled.pk])),
        ("reset-confirm", reverse("accounts:reset_confirm", args=[account.pk])),
        ("notifications", reverse("notifications:list")),
        ("notification-settings", reverse("notification_pages:preferences")),
        ("bots", reverse("bots:list")),
        ("bot-new", reverse("bots:new")),
        ("bot-detail", reverse("bots:detail", args=[bot.pk])),
        ("bot-edit", reverse("bots:edit", args=[bot.pk])),
        ("signals", reverse("bots:signals")),
        ("backtests", reverse("bots:backtests")),
        ("backtest-new", reverse("bots:backtest_new")),
        ("backtest-report", reverse("bots:backtest", args=[backtest.pk])),
        ("exchanges", reverse("exchanges:list")),
        ("exchange-portfolio", reverse("exchanges:portfolio", args=[paper.pk])),
        ("spot-bot-new", reverse("exchanges:bot_new")),
        ("spot-bot", reverse("exchanges:bot", args=[spot_bot.pk])),
        ("deriv", reverse("deriv:accounts")),
        ("referrals", reverse("revenue:referrals")),
        ("pricing-signed-in", reverse("billing:pricing")),
        ("billing", reverse("billing:billing")),
        ("two-factor", reverse("mfa_index")),
        ("settings-profile", reverse("settings:profile")),
        ("settings-security", reverse("settings:security")),
        ("settings-trading", reverse("settings:trading")),
        ("settings-responsible", reverse("settings:responsible")),
    ]
    walk.staff_pages = [("feed-status", reverse("markets:feed_status")), ("analytics", reverse("ops_staff:analytics"))]
    walk.visitor_pages = [
        ("home", reverse("dashboard:home")),
        ("login", reverse("account_login")),
        ("signup", reverse("account_signup")),
        ("pricing", reverse("billing:pricing")),
    ]
    return walk


class Watched:
    """A browser context at one viewport, recording console errors, page errors and CSP violations."""

    def __init__(self, browser, base_url: str, viewport: dict):
        self.context = browser.new_context(base_url=base_url, viewport=viewport)
        self.context.set_default_timeout(15_000)
        self.context.add_init_script(WATCH)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def _console(self, message) -> None:
        if message.type == "error" or "Content Security Policy" in message.text:
            self.errors.append(f"console {message.type}: {message.text}")

    def sign_in(self, email: str, *, totp_secret: str | None = None) -> None:
        from tests.support.mfa import totp_code

        page = self.page
        page.goto("/accounts/login/")
        page.fill("input[name=login]", email)
        page.fill("input[name=password]", PASSWORD)
        page.locator("input[name=password]").press("Enter")
        if totp_secret:
            page.wait_for_url("**/2fa/authenticate/**")
            page.fill("input[name=code]", totp_code(totp_secret))
            page.locator("input[name=code]").press("Enter")
        page.wait_for_url(lambda url: "/accounts/" not in url)
        # Sign-in is not part of what the walk judges.
        self.errors.clear()

    def visit(self, path: str):
        """Open `path` and let it settle (its scripts ran, its socket connected, a few pushes arrived)."""
        response = self.page.goto(path)
        self.page.wait_for_load_state("networkidle")
        self.page.wait_for_timeout(600)
        return response

    def overflow(self) -> int:
        """How many CSS pixels the page is wider than the window (0 when it fits)."""
        return self.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")

    def violations(self) -> list[str]:
        return self.page.evaluate("window.__cspViolations || []")

    def take_errors(self) -> list[str]:
        errors, self.errors = self.errors, []
        return errors

    def close(self) -> None:
        self.context.close()
