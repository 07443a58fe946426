from django.apps import AppConfig


class ApiConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "pixaudit.api"
    label = "api"
    verbose_name = "REST API"
