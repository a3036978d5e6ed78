from django.urls import path

from . import views

app_name = "settings"
urlpatterns = [
    path("", views.index, name="index"),
    path("profile/", views.profile, name="profile"),
    path("security/", views.security, name="security"),
    path("trading/", views.trading, name="trading"),
    path("responsible-trading/", views.responsible, name="responsible"),
]
