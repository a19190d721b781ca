"""Old name of :mod:`vdi.domain_plan`, kept while ``device_manager`` and ``tests/web`` import it.

Remove this module once they import :mod:`vdi.domain_plan` (issue 12: one name per module).
"""

from vdi.domain_plan import *  # noqa: F403
from vdi.domain_plan import __all__  # noqa: F401
