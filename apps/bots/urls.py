from django.urls import path

from . import views

app_name = "bots"

urlpatterns = [
    path("<int:bot_id>/", views.detail, name="detail"),
]
