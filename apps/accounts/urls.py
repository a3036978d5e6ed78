from django.urls import path

from . import views

app_name = "accounts"
urlpatterns = [
    path("balance/", views.balance, name="balance"),
    path("demo/open/", views.open_demo, name="open_demo"),
    path("<int:pk>/select/", views.select, name="select"),
    path("<int:pk>/reset/", views.reset, name="reset"),
    path("<int:pk>/reset/confirm/", views.reset_confirm, name="reset_confirm"),
]
