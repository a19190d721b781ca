"""HallCloud images package."""

__all__: list[str] = []
