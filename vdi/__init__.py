"""HallCloud vdi: the libvirt core. No Pulumi and no web; works on ``qemu:///system``, remote URIs
and ``test:///default``.

Core modules (pure planning first, thin libvirt I/O after):

- :mod:`vdi.models`     typed dataclasses for domains, disks, interfaces, graphics, networks, pools,
                        volumes and snapshots, and :func:`vdi.models.differences` for "ensure"
- :mod:`vdi.render`     the one place models become libvirt XML and XML becomes models
- :mod:`vdi.domain_plan`       a catalog image + its machine profile (``images/``) -> a domain model
- :mod:`vdi.conn`       connections; libvirt errors converted at the boundary
- :mod:`vdi.exceptions` every error vdi raises (the docstring draws the tree)
- :mod:`vdi.network`, :mod:`vdi.storage`, :mod:`vdi.domain`   idempotent ensure/delete operations
- :mod:`vdi.golden`     golden image pipeline (sha256, qcow2, stream upload)
- :mod:`vdi.serial_console`    serial console: wait for markers, send lines
- :mod:`vdi.testguest`  tiny test guests: staging, boot to the marker, ``hall images boot-test``
- :mod:`vdi.validate`   ``virt-xml-validate`` and ``hall images validate``
"""

__all__: list[str] = []
