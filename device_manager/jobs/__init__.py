"""Asynchronous jobs (SSH operations, playbook runs, window setup): status, progress, a persistent log
that the API streams live (Server-Sent Events), cancel and history."""

__all__: list[str] = []
