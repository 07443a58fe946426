from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "pixaudit.dashboard"
    label = "dashboard"
