from django.urls import path

from . import views

app_name = "exchanges"

urlpatterns = [
    path("", views.exchange_list, name="list"),
    path("paper/", views.paper_open, name="paper_open"),
    path("connect/", views.connect, name="connect"),
    path("<int:connection_id>/", views.portfolio, name="portfolio"),
    path("<int:connection_id>/remove/", views.remove, name="remove"),
    path("<int:connection_id>/close/", views.close, name="close"),
    path("bots/new/", views.bot_new, name="bot_new"),
    path("bots/<int:bot_id>/", views.bot_detail, name="bot"),
    path("bots/<int:bot_id>/start/", views.bot_start, name="bot_start"),
    path("bots/<int:bot_id>/stop/", views.bot_stop, name="bot_stop"),
    path("bots/<int:bot_id>/backtest/", views.bot_backtest, name="bot_backtest"),
]
