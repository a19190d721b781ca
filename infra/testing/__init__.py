"""Test helpers in the installed package: throw-away Pulumi resources for tests of the real engine
(no libvirt, no network) and small hall configs (:mod:`infra.testing.halls`).

They live in the installed package, not in the test program, on purpose: dynamic providers are pickled
with dill, and a provider class from an importable module is pickled by reference, so the provider
process the engine starts must import ``infra`` exactly as the real providers will.
"""

__all__: list[str] = []
