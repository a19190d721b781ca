"""The device manager's web pages: the IT dashboard and the clerks' seat pages (``routes``), and the
websockify processes behind browser consoles (``vncproxy``)."""

__all__: list[str] = []
