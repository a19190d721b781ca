"""HallCloud vdi package."""
