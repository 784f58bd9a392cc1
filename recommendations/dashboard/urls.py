"""The dashboard's pages, each behind the admin's staff check (a non-staff visitor is sent to
the admin login)."""

from django.contrib import admin
from django.urls import path

from recommendations.dashboard import views

app_name = "picks_dashboard"
staff = admin.site.admin_view

urlpatterns = [
    path("", staff(views.overview), name="overview"),
    path("pipeline/", staff(views.pipeline), name="pipeline"),
    path("models/", staff(views.models), name="models"),
    path("lists/", staff(views.lists), name="lists"),
    path("lists/<str:family>/rollback/", staff(views.rollback), name="rollback"),
    path("user/", staff(views.user_view), name="user"),
    path("experiments/", staff(views.experiment_list), name="experiments"),
    path("experiments/<slug:name>/", staff(views.experiment_report), name="experiment"),
]
