from django.apps import AppConfig


class ExceptionsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "pixaudit.exceptions"
    label = "exceptions"
    verbose_name = "Exceptions register"
