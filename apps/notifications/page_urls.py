"""The notification preferences (a section of the settings) and the emails' unsubscribe links."""

from django.urls import path

from . import views

app_name = "notification_pages"
urlpatterns = [
    path("settings/notifications/", views.preferences, name="preferences"),
    path("unsubscribe/<str:token>/", views.unsubscribe_page, name="unsubscribe"),
]
