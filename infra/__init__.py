"""HallCloud infra package."""

__all__: list[str] = []
