"""HallCloud vdi: the libvirt core. No Pulumi and no web; works on ``qemu:///system``, remote URIs
and ``test:///default``. Pure planning first, thin libvirt I/O after; every module lists its exports
in ``__all__``.

Models, XML and planning (no libvirt calls):

- :mod:`vdi.models`          typed dataclasses for domains, disks, interfaces, graphics, networks,
                             network filters, pools, volumes and snapshots; :func:`vdi.models.differences`
- :mod:`vdi.render`          the one place models become libvirt XML and XML becomes models
- :mod:`vdi.domain_plan`     a catalog image + its machine profile (``images/``) -> a domain model
- :mod:`vdi.policy`          snapshot/backup policies, cron slots and retention plans
- :mod:`vdi.seats`           seats: the two desktops of a window, one per side; the seats file

The boundary and idempotent operations:

- :mod:`vdi.settings`        every environment variable vdi reads; :mod:`vdi.paths` the state directory
- :mod:`vdi.conn`            connections; libvirt errors converted at the boundary
- :mod:`vdi.exceptions`      every error vdi raises (the docstring draws the tree)
- :mod:`vdi.network`, :mod:`vdi.nwfilter`, :mod:`vdi.storage`, :mod:`vdi.domain`   ensure/delete
- :mod:`vdi.golden`          golden image pipeline (sha256, qcow2, stream upload)
- :mod:`vdi.serial_console`  a guest's serial console: wait for markers, send lines
- :mod:`vdi.console_tickets` one-time console passwords; remote-viewer ``.vv`` files for seats
- :mod:`vdi.testguest`       tiny test guests: staging, boot to the marker, ``hall images boot-test``
- :mod:`vdi.validate`        ``virt-xml-validate`` and ``hall images validate``

Keeping desktops safe (each takes the desktop's lock):

- :mod:`vdi.desktops`        a desktop's disks, its recorded origin, the per-desktop operation lock
- :mod:`vdi.snapshots`       snapshots: create, list, revert (instant restore), delete, prune
- :mod:`vdi.backup`          backups: store and manifest, create, restore, restore drills, retention
- :mod:`vdi.recovery`        reset from golden, and the one sequence that replaces a desktop's disks
- :mod:`vdi.scheduler`       the loop applying every desktop's policy

:mod:`vdi.cli` holds the ``hall`` sub-commands vdi provides.
"""

__all__: list[str] = []
