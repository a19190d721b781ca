"""HallCloud device_manager package."""
