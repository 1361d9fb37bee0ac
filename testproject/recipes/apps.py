from django.apps import AppConfig


class RecipesConfig(AppConfig):
    name = "testproject.recipes"
    label = "recipes"
    default_auto_field = "django.db.models.BigAutoField"
