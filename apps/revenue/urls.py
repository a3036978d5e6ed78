from django.urls import path

from . import views

app_name = "revenue"
urlpatterns = [
    path("referrals/", views.referrals, name="referrals"),
    path("referrals/start/", views.partner_start, name="partner_start"),
    path("referrals/code/", views.code_change, name="code_change"),
    path("referrals/markup/", views.markup_change, name="markup_change"),
    path("r/<str:code>/", views.short_link, name="short_link"),
]
