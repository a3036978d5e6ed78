from django.urls import path

from . import staff

app_name = "ops_staff"
urlpatterns = [
    path("", staff.analytics, name="analytics"),
]
