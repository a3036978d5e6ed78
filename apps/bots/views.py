from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from .models import Bot
from .selectors import bot_for, bot_trades


@login_required
def detail(request, bot_id: int):
    try:
        bot = bot_for(user=request.user, bot_id=bot_id)
    except Bot.DoesNotExist:
        raise Http404("No such bot.") from None
    return render(request, "bots/detail.html", {"bot": bot, "trades": bot_trades(bot=bot)})
