"""Every error ``vdi`` raises. libvirt, qemu-img and image-catalog errors are converted at the boundary.

Messages name the object, the problem and the fix, e.g.
``network hc-gov: exists with a different definition (forward mode: nat, wanted isolated). Fix: ...``.

Exception tree::

    VdiError                        base of everything below; .obj names the object ("network gov")
    ├── ConnectionFailed            the hypervisor URI cannot be opened
    ├── UnsupportedOperation        the driver behind the URI lacks a feature (e.g. no storage driver)
    ├── InvalidSpec                 the request itself is wrong; nothing was created
    │   ├── UnknownArchitecture     no machine profile for the architecture
    │   ├── FirmwareMissing         the profile's firmware files are not available
    │   └── InvalidPoolPath         a dir pool's path exists but is not a directory
    ├── NotFound                    the named object does not exist
    ├── Conflict                    an object of that name exists with a different definition
    ├── ChecksumMismatch            a downloaded or local image does not match its catalog sha256
    ├── ImageConversionFailed       qemu-img could not convert an image
    ├── ConsoleError                the serial console could not be opened or closed early
    │   └── ConsoleTimeout          the expected marker did not appear in time
    └── LibvirtOperationFailed      any other libvirt error, with libvirt's message and code
"""

from __future__ import annotations


class VdiError(Exception):
    """Base of every vdi error. ``obj`` is the human name of the object concerned."""

    def __init__(self, obj: str, problem: str, fix: str | None = None) -> None:
        self.obj = obj
        self.problem = problem
        self.fix = fix
        message = f"{obj}: {problem}"
        if fix:
            message += f". Fix: {fix}"
        super().__init__(message)


class ConnectionFailed(VdiError):
    pass


class UnsupportedOperation(VdiError):
    pass


class InvalidSpec(VdiError):
    pass


class UnknownArchitecture(InvalidSpec):
    pass


class FirmwareMissing(InvalidSpec):
    pass


class InvalidPoolPath(InvalidSpec):
    pass


class NotFound(VdiError):
    pass


class Conflict(VdiError):
    pass


class ChecksumMismatch(VdiError):
    pass


class ImageConversionFailed(VdiError):
    pass


class ConsoleError(VdiError):
    pass


class ConsoleTimeout(ConsoleError):
    def __init__(self, obj: str, problem: str, fix: str | None = None, output: str = "") -> None:
        super().__init__(obj, problem, fix)
        self.output = output


class LibvirtOperationFailed(VdiError):
    def __init__(self, obj: str, problem: str, fix: str | None = None, code: int | None = None) -> None:
        super().__init__(obj, problem, fix)
        self.code = code


__all__ = [
    "ChecksumMismatch",
    "Conflict",
    "ConnectionFailed",
    "ConsoleError",
    "ConsoleTimeout",
    "FirmwareMissing",
    "ImageConversionFailed",
    "InvalidPoolPath",
    "InvalidSpec",
    "LibvirtOperationFailed",
    "NotFound",
    "UnknownArchitecture",
    "UnsupportedOperation",
    "VdiError",
]
