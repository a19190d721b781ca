"""HallCloud images package."""
