from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Mail agents"

    def ready(self) -> None:
        from agents.mta.hooks import hooks_register

        hooks_register()
