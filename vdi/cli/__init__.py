"""vdi's command-line commands, one module per ``hall`` sub-command (``hall.py`` mounts them).

- :mod:`vdi.cli.common`     options every command shares (``--uri``, ``--pool``), the libvirt session
                            (vdi errors -> one-line errors, SIGTERM -> cleanup), progress on stderr
- :mod:`vdi.cli.desktop`    ``hall desktop ...``: snapshots, instant restore, backups, restore, reset
- :mod:`vdi.cli.backup`     ``hall backup verify``: restore drills
- :mod:`vdi.cli.snapshots`  ``hall snapshots ...``: policies and the scheduler
- :mod:`vdi.cli.console`    ``hall console ...``: one-time console tickets and remote-viewer files
- :mod:`vdi.cli.images`     ``hall images validate|boot-test|import`` (the image commands needing libvirt)
"""

__all__: list[str] = []
