"""HTTP layer: dependencies, middleware and one router module per resource."""
