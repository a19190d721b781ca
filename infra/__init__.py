"""HallCloud infra package."""
