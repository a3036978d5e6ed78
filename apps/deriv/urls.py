from django.urls import path

from . import views

app_name = "deriv"
urlpatterns = [
    path("", views.accounts, name="accounts"),
    path("refresh/", views.refresh, name="refresh"),
    path("unlink/", views.unlink, name="unlink"),
    path("<int:pk>/reset/", views.reset, name="reset"),
]
