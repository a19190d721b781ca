"""HTTP layer: dependencies, middleware and one router module per resource."""

__all__: list[str] = []
