from django.urls import path

from . import views

app_name = "bots"

urlpatterns = [
    path("", views.bot_list, name="list"),
    path("rows/", views.bot_rows, name="rows"),
    path("new/", views.bot_new, name="new"),
    path("kill-switch/", views.kill_switch, name="kill_switch"),
    path("signals/", views.signals, name="signals"),
    path("backtests/", views.backtest_list, name="backtests"),
    path("backtests/new/", views.backtest_new, name="backtest_new"),
    path("backtests/<int:backtest_id>/", views.backtest_detail, name="backtest"),
    path("<int:bot_id>/", views.bot_detail, name="detail"),
    path("<int:bot_id>/edit/", views.bot_edit, name="edit"),
    path("<int:bot_id>/start/", views.bot_start_view, name="start"),
    path("<int:bot_id>/stop/", views.bot_stop_view, name="stop"),
]
