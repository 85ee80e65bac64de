"""Python bridge to the variant autoscaler: ctypes bindings over libvariant.so (the
optimizer: solve, model queries) and libvariant-client.so (guidance from the bus).

Standard library only. The shared objects are found, in order, from the `lib_dir`
argument, the VARIANT_LIB_DIR environment variable, or the system loader's path.
Errors from the C ABI are raised as VariantError / ClientError carrying the stable
code, its identifier and the library's message.
"""

from .libvariant import Context, Spec, VariantError, Workload, abi_version, version
from .client import ClientError, GuidanceClient, Pick

__all__ = [
    "ClientError",
    "Context",
    "GuidanceClient",
    "Pick",
    "Spec",
    "VariantError",
    "Workload",
    "abi_version",
    "version",
]
