"""Old home of :mod:`tests.guests`, kept only while tests/vdi and tests/infra still import it from here
(they are moved to ``tests.guests`` by the vdi/infra half of issue 12); delete this package then."""

from tests.guests import COLOURS, GuestSpec, hypervisor_uri, start_guests, stop_guests

__all__ = ["COLOURS", "GuestSpec", "hypervisor_uri", "start_guests", "stop_guests"]
