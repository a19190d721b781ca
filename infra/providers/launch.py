"""Entry point of the dynamic-provider process (``.venv/bin/pulumi-resource-pulumi-python`` runs it).

The engine serves provider calls from a thread pool, where a signal cannot raise. When ``hall stack``
stops an engine run (Ctrl-C, SIGTERM, a cancelled window setup) it sends this process SIGINT: the
handler installed here sets :mod:`vdi.cancel`'s flag, so a wait inside a provider call (a desktop's
addresses, an upload) raises :class:`vdi.cancel.Interrupted` at once, and the create in progress removes
what it made and reports the failure instead of being killed halfway; the process ends as soon as no
call is in flight any more (the engine sends the same signal when it closes a provider normally). Then
the SDK's own provider server (``pulumi.dynamic``) runs as usual.
"""

from __future__ import annotations

import runpy

from vdi.cancel import install_flag_handlers

__all__: list[str] = []

if __name__ == "__main__":
    # the engine also sends SIGINT when it is done with a provider: end then, once no call is in flight
    install_flag_handlers(exit_when_idle=0.2)
    runpy.run_module("pulumi.dynamic", run_name="__main__", alter_sys=True)
