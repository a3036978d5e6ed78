from django.urls import path

from . import views

app_name = "markets"
urlpatterns = [
    path("<slug:symbol>/quote/", views.quote, name="quote"),
]
