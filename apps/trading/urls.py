from django.urls import path

from . import views

app_name = "trading"
urlpatterns = [
    path("", views.trade, name="trade"),
    path("buy/", views.buy, name="buy"),
    path("preview/", views.preview, name="preview"),
    path("history/", views.history, name="history"),
    path("history/export.csv", views.history_export, name="history_export"),
    path("markers/", views.markers, name="markers"),
    path("contracts/<int:pk>/", views.contract_detail, name="contract"),
]
