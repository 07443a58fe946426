from __future__ import annotations

from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "pixaudit.reviews"
    label = "reviews"
    verbose_name = "Access reviews"
