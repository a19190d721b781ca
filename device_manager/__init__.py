"""HallCloud device_manager package."""

__all__: list[str] = []
