"""Staff control of bots: list, start, stop, and the kill switches."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.bots.models import Bot, BotStatus, KillSwitch
from apps.bots.services import bot_start, bots_stop_by_staff, kill_switch_set


class Command(BaseCommand):
    help = "List, start and stop bots, and engage or release the global or a user's kill switch."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="Bots with their status, today's figures and stop reason.")
        listing.add_argument("--running", action="store_true", help="Only running bots.")
        listing.add_argument("--user", help="Only this user's bots (email).")
        start = sub.add_parser("start", help="Start bots as their owner would (same checks).")
        start.add_argument("bot_ids", nargs="+", type=int)
        stop = sub.add_parser("stop", help="Stop bots (the owner is told).")
        stop.add_argument("bot_ids", nargs="*", type=int)
        stop.add_argument("--all", action="store_true", help="Every running bot.")
        switch = sub.add_parser("kill-switch", help="Engage or release a kill switch; engaging stops bots at once.")
        switch.add_argument("state", choices=("on", "off", "status"))
        switch.add_argument("--user", help="A user's switch (email); without it, the global switch.")
        switch.add_argument("--reason", default="", help="Shown to the traders whose bots stop.")

    def handle(self, *args, action, **options):
        getattr(self, action.replace("-", "_"))(**options)

    def list(self, *, running, user, **options):
        bots = Bot.objects.select_related("user", "market").order_by("id")
        if running:
            bots = bots.filter(status=BotStatus.RUNNING)
        if user:
            bots = bots.filter(user__email__iexact=user)
        self.stdout.write(f"{'id':>6}  {'status':<8} {'trades':>6} {'pnl':>10}  {'market':<14} {'user':<28} name / why")
        for bot in bots:
            why = f" — {bot.stop_label}" if bot.stopped_reason else ""
            self.stdout.write(
                f"{bot.pk:>6}  {bot.status:<8} {bot.trades_today:>6} {bot.today_pnl:>10}  {bot.market.symbol:<14} "
                f"{bot.user.email:<28} {bot.name}{why}"
            )

    def start(self, *, bot_ids, **options):
        for bot in Bot.objects.filter(pk__in=bot_ids).select_related("user"):
            try:
                bot_start(user=bot.user, bot_id=bot.pk)
            except ValidationError as error:
                self.stderr.write(f"bot {bot.pk}: {' '.join(error.messages)}")
            else:
                self.stdout.write(f"bot {bot.pk}: running")

    def stop(self, *, bot_ids, all, **options):
        if all:
            bot_ids = list(Bot.objects.filter(status=BotStatus.RUNNING).values_list("pk", flat=True))
        if not bot_ids:
            raise CommandError("Name bots to stop, or use --all.")
        self.stdout.write(f"stopped {bots_stop_by_staff(bot_ids=bot_ids)} bot(s)")

    def kill_switch(self, *, state, user, reason, **options):
        owner = None
        if user:
            owner = get_user_model().objects.filter(email__iexact=user).first()
            if owner is None:
                raise CommandError(f"No user with the email {user}.")
        scope = f"{owner.email}'s kill switch" if owner else "the global kill switch"
        if state == "status":
            switch = KillSwitch.objects.filter(user=owner).first()
            on = bool(switch and switch.engaged)
            self.stdout.write(
                f"{scope} is {'ON' if on else 'off'}" + (f" ({switch.reason})" if on and switch.reason else "")
            )
            return
        stopped = kill_switch_set(user=owner, engaged=state == "on", reason=reason)
        self.stdout.write(f"{scope} is {'ON' if state == 'on' else 'off'}; {stopped} bot(s) stopped")
