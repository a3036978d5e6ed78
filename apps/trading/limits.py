"""The trader's own limits (Settings > Responsible trading), enforced on every purchase, manual or bot.

A self-exclusion refuses every trade until it ends. The daily stake limit
counts the stakes of today's purchases, the daily loss limit today's settled
losses net of wins plus the stakes still at risk: a trade that could take
either past the limit is refused. "Today" is the trader's day in their own
time zone; amounts are summed over all their accounts.

Refusals carry the code SELF_EXCLUDED or TRADER_LIMIT, so the bots' fan-out
stops a bot that meets one instead of retrying it on every decision.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db.models import Q, Sum
from django.utils import timezone

from apps.common.money import money_text
from apps.users.selectors import responsible_trading_of, user_day_start, user_timezone

from .models import HELD, Contract, Status

SELF_EXCLUDED = "SELF_EXCLUDED"
TRADER_LIMIT = "TRADER_LIMIT"
# Statuses that spent nothing: the stake came straight back.
_UNSPENT = (Status.REFUSED, Status.VOID)
ZERO = Decimal("0.00")


@dataclass
class Allowance:
    """What one trader may still buy today: the refusal of any trade, or how much stake and risk is left."""

    refusal: ValidationError | None = None
    stake_left: Decimal | None = None
    risk_left: Decimal | None = None

    def take(self, stake: Decimal) -> ValidationError | None:
        """The refusal of a trade of `stake`, or None (then the stake counts against what is left)."""
        if self.refusal is not None:
            return self.refusal
        if self.stake_left is not None and stake > self.stake_left:
            return _limit_error(
                f"This stake would take you past your own daily stake limit: {money_text(self.stake_left)} "
                "left today across all your accounts. Change it in Settings > Responsible trading."
            )
        if self.risk_left is not None and stake > self.risk_left:
            return _limit_error(
                f"This stake could take you past your own daily loss limit: {money_text(max(self.risk_left, ZERO))} "
                "can still be lost today across all your accounts. Change it in Settings > Responsible trading."
            )
        if self.stake_left is not None:
            self.stake_left -= stake
        if self.risk_left is not None:
            self.risk_left -= stake
        return None


def _limit_error(message: str, code: str = TRADER_LIMIT) -> ValidationError:
    return ValidationError({"market": ValidationError(message, code=code)})


def refusal_code(error: ValidationError) -> str | None:
    """SELF_EXCLUDED or TRADER_LIMIT when `error` is one of these refusals."""
    groups = error.error_dict.values() if hasattr(error, "error_dict") else [error.error_list]
    codes = {e.code for group in groups for e in group}
    return next((code for code in (SELF_EXCLUDED, TRADER_LIMIT) if code in codes), None)


def allowances(*, user_ids, now=None) -> dict[int, Allowance]:
    """Each of `user_ids`' allowance for today (one query for the settings, one per limited trader)."""
    now = now or timezone.now()
    found: dict[int, Allowance] = {}
    for user_id, row in responsible_trading_of(user_ids).items():
        if row.excluded_until is not None and row.excluded_until > now:
            until = timezone.localtime(row.excluded_until, user_timezone(row.user)).strftime("%d %b %Y %H:%M %Z")
            found[user_id] = Allowance(
                refusal=_limit_error(
                    f"You paused your trading until {until}: no trade, manual or by a bot, until then.",
                    SELF_EXCLUDED,
                )
            )
            continue
        if row.daily_stake_limit is None and row.daily_loss_limit is None:
            continue
        since = user_day_start(row.user, now)
        mine = Contract.objects.filter(user_id=user_id)
        today = mine.filter(purchased_at__gte=since).exclude(status__in=_UNSPENT)
        figures = today.aggregate(staked=Sum("stake"))
        settled = mine.filter(settled_at__gte=since).exclude(status__in=(*HELD, *_UNSPENT))
        figures |= settled.aggregate(settled_stakes=Sum("stake"), paid=Sum("amount_paid"))
        figures |= mine.filter(Q(status__in=HELD)).aggregate(at_risk=Sum("stake"))
        staked = figures["staked"] or ZERO
        lost = (figures["settled_stakes"] or ZERO) - (figures["paid"] or ZERO)
        allowance = Allowance()
        if row.daily_stake_limit is not None:
            allowance.stake_left = row.daily_stake_limit - staked
        if row.daily_loss_limit is not None:
            if lost >= row.daily_loss_limit:
                allowance.refusal = _limit_error(
                    f"You reached your own daily loss limit ({money_text(row.daily_loss_limit)}): "
                    "no more trades today. Change it in Settings > Responsible trading."
                )
            allowance.risk_left = row.daily_loss_limit - lost - (figures["at_risk"] or ZERO)
        found[user_id] = allowance
    return found


def trading_refusal(*, user, stake: Decimal | None = None) -> ValidationError | None:
    """Why `user` cannot trade now (a trade of `stake`, when given) under their own rules, or None."""
    allowance = allowances(user_ids=[user.pk]).get(user.pk)
    if allowance is None:
        return None
    if stake is None:
        if allowance.refusal is None and allowance.stake_left is not None and allowance.stake_left <= 0:
            return _limit_error(
                "You used all of your own daily stake limit: no more trades today. "
                "Change it in Settings > Responsible trading."
            )
        return allowance.refusal
    return allowance.take(stake)


def trading_refusal_text(*, user) -> str | None:
    """The same refusal in a trader's words (pages and bot starts)."""
    error = trading_refusal(user=user)
    return " ".join(error.messages) if error else None
