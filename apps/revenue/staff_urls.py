from django.urls import path

from . import staff

app_name = "revenue_staff"
urlpatterns = [
    path("", staff.revenue, name="revenue"),
]
