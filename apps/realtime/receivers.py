"""Live pages follow the other apps' facts: each pushes the fragments it changed."""

from django.dispatch import receiver

from apps.bots.signals import signals_decided
from apps.markets.signals import ticks_committed

from .push import push_signals, push_ticks


@receiver(ticks_committed, dispatch_uid="realtime.push_ticks")
def ticks_to_markets(sender, market_ids: list[int], **kwargs) -> None:
    push_ticks(market_ids)


@receiver(signals_decided, dispatch_uid="realtime.push_signals")
def signals_to_markets(sender, market_ids: list[int], **kwargs) -> None:
    push_signals(market_ids)
