"""Alerts: the engine (``engine``: hysteresis, flapping, maintenance, acknowledge/resolve) and what each
rule kind sees in a poll or a trap (``observers``: one observer per kind of ``device_manager.alert_kinds``).
"""

from device_manager.services.alerts.engine import (
    HISTORY,
    AlertEngine,
    Batch,
    Notification,
    alert_payload,
    id_chunks,
    record_deliveries,
)
from device_manager.services.alerts.observers import (
    OBSERVERS,
    Observation,
    PollResultLike,
    TrapEventLike,
    observe,
    observe_trap,
)

__all__ = [
    "HISTORY",
    "OBSERVERS",
    "AlertEngine",
    "Batch",
    "Notification",
    "Observation",
    "PollResultLike",
    "TrapEventLike",
    "alert_payload",
    "id_chunks",
    "observe",
    "observe_trap",
    "record_deliveries",
]
