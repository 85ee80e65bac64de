"""Finds and loads the project's shared objects."""

import ctypes
import os


def load(stem, soversion, lib_dir=None):
    """Loads lib<stem>.so.<soversion> from lib_dir, $VARIANT_LIB_DIR or the loader path."""
    name = "lib%s.so.%d" % (stem, soversion)
    for d in (lib_dir, os.environ.get("VARIANT_LIB_DIR")):
        if d:
            path = os.path.join(d, name)
            if os.path.exists(path):
                return ctypes.CDLL(path)
            raise OSError("%s not found in %s" % (name, d))
    return ctypes.CDLL(name)
