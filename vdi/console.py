"""Old name of :mod:`vdi.serial_console`, kept while ``device_manager`` and ``tests/web`` import it.

Remove this module once they import :mod:`vdi.serial_console` (issue 12: one name per module).
"""

from vdi.serial_console import *  # noqa: F403
from vdi.serial_console import __all__  # noqa: F401
