"""Old name of :mod:`vdi.console_tickets`, kept while ``device_manager`` and ``tests/web`` import it.

Remove this module once they import :mod:`vdi.console_tickets` (issue 12: one name per module).
"""

from vdi.console_tickets import *  # noqa: F403
from vdi.console_tickets import __all__  # noqa: F401
