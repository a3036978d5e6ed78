from django.urls import path

from . import views

app_name = "markets"
urlpatterns = [
    path("status/", views.feed_status, name="feed_status"),
    path("<slug:symbol>/quote/", views.quote, name="quote"),
    path("<slug:symbol>/candles/", views.candle_history, name="candles"),
    path("<slug:symbol>/ticks/", views.tick_history, name="ticks"),
]
