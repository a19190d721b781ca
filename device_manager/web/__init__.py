"""The device manager's web pages (``routes`` assembles them): the files (``static_files``), the IT
dashboard's data (``dashboard``), the clerks' seat pages (``seat_page``, with ``seat_auth`` and
``seat_tokens``), the desktop-state cache (``desktop_states``), what they keep while the app runs
(``state``) and the websockify processes behind browser consoles (``vncproxy``)."""

__all__: list[str] = []
