"""ctypes binding over libvariant-client.so (bridge/client/include/variant/client.h)."""

import ctypes
from ctypes import POINTER, byref, c_char, c_char_p, c_double, c_int, c_int64, c_size_t
from ctypes import c_uint64, c_void_p

from ._load import load

ABI_VERSION = 1  # VARIANT_CLIENT_ABI_VERSION this binding was written against
NAME_MAX = 128

E_NO_GUIDANCE = 3
E_CAPACITY = 8

_lib = None


class ClientError(Exception):
    """A guidance-client call failed: .code (stable), .name (VARIANT_CLIENT_E_*), .message."""

    def __init__(self, code, name, message=""):
        super().__init__("%s%s" % (name, ": " + message if message else ""))
        self.code, self.name, self.message = code, name, message


class _Options(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("endpoint", c_char_p),
                ("max_message_bytes", c_size_t)]


class _Weight(ctypes.Structure):
    _fields_ = [("variant", c_char * NAME_MAX), ("weight", c_double)]


class _Pick(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("decision_id", c_int64), ("per_bucket", c_int),
                ("bucket_input", c_double), ("bucket_output", c_double),
                ("unserved_fraction", c_double)]


class _Stats(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("accepted", c_uint64), ("rejected", c_uint64),
                ("decision_id", c_int64), ("received_unix_s", c_double),
                ("generation", c_uint64)]


class Pick:
    """Where a weights answer came from."""

    def __init__(self, p):
        self.decision_id = p.decision_id
        self.per_bucket = bool(p.per_bucket)
        self.bucket_input, self.bucket_output = p.bucket_input, p.bucket_output
        self.unserved_fraction = p.unserved_fraction


def _library(lib_dir=None):
    global _lib
    if _lib is not None:
        return _lib
    lib = load("variant-client", ABI_VERSION, lib_dir)
    lib.variant_client_status_name.restype = c_char_p
    lib.variant_client_status_name.argtypes = [c_int]
    lib.variant_client_abi_version.restype = c_int
    lib.variant_client_free.argtypes = [c_void_p]
    lib.variant_client_create.argtypes = [POINTER(_Options), POINTER(c_void_p), POINTER(c_void_p)]
    lib.variant_client_destroy.argtypes = [c_void_p]
    lib.variant_client_feed.argtypes = [c_void_p, c_char_p, c_size_t, c_char_p, c_size_t,
                                        POINTER(c_void_p)]
    lib.variant_client_weights.argtypes = [c_void_p, c_char_p, c_char_p, c_double, c_double,
                                           POINTER(_Weight), c_size_t, POINTER(c_size_t),
                                           POINTER(_Pick)]
    lib.variant_client_load.argtypes = [c_void_p, c_char_p, c_char_p, POINTER(c_double)]
    lib.variant_client_get_stats.argtypes = [c_void_p, POINTER(_Stats)]
    lib.variant_client_last_rejection.argtypes = [c_void_p, POINTER(c_void_p)]
    if lib.variant_client_abi_version() != ABI_VERSION:
        raise OSError("libvariant-client ABI %d, this binding speaks %d" %
                      (lib.variant_client_abi_version(), ABI_VERSION))
    _lib = lib
    return lib


def _take(lib, p):
    s = ctypes.string_at(p).decode() if p.value else ""
    lib.variant_client_free(p)
    return s


class GuidanceClient:
    """Subscribes to the agent's guidance (endpoint: its XPUB address) on a background
    thread; queries are non-blocking and thread-safe. endpoint=None: feed() only."""

    def __init__(self, endpoint=None, max_message_bytes=0, lib_dir=None):
        self._lib = _library(lib_dir)
        opt = _Options(ctypes.sizeof(_Options), endpoint.encode() if endpoint else None,
                       max_message_bytes)
        h, err = c_void_p(), c_void_p()
        rc = self._lib.variant_client_create(byref(opt), byref(h), byref(err))
        if rc != 0:
            raise ClientError(rc, self._name(rc), _take(self._lib, err))
        self._h = h

    def _name(self, rc):
        return self._lib.variant_client_status_name(rc).decode()

    def close(self):
        if getattr(self, "_h", None):
            self._lib.variant_client_destroy(self._h)
            self._h = None

    __del__ = close

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def feed(self, header, body):
        """Hands over one guidance message's header and body frames (bytes)."""
        err = c_void_p()
        rc = self._lib.variant_client_feed(self._h, header, len(header), body, len(body),
                                           byref(err))
        msg = _take(self._lib, err)
        if rc != 0:
            raise ClientError(rc, self._name(rc), msg)

    def weights(self, model, input_tokens, output_tokens, service_class=None):
        """[(variant, weight), ...] in decreasing weight, and the Pick it came from."""
        cap = 16
        while True:
            out, n, pick = (_Weight * cap)(), c_size_t(), _Pick(ctypes.sizeof(_Pick))
            rc = self._lib.variant_client_weights(
                self._h, model.encode(), service_class.encode() if service_class else None,
                float(input_tokens), float(output_tokens), out, cap, byref(n), byref(pick))
            if rc == E_CAPACITY:
                cap = n.value
                continue
            if rc != 0:
                raise ClientError(rc, self._name(rc))
            return [(out[i].variant.decode(), out[i].weight) for i in range(n.value)], Pick(pick)

    def load(self, model, variant):
        """The variant's load signal (1.0 = at SLO capacity)."""
        v = c_double()
        rc = self._lib.variant_client_load(self._h, model.encode(), variant.encode(), byref(v))
        if rc != 0:
            raise ClientError(rc, self._name(rc))
        return v.value

    def stats(self):
        s = _Stats(ctypes.sizeof(_Stats))
        rc = self._lib.variant_client_get_stats(self._h, byref(s))
        if rc != 0:
            raise ClientError(rc, self._name(rc))
        return {name: getattr(s, name) for name, _ in _Stats._fields_ if name != "struct_size"}

    def last_rejection(self):
        p = c_void_p()
        rc = self._lib.variant_client_last_rejection(self._h, byref(p))
        if rc != 0:
            raise ClientError(rc, self._name(rc))
        return _take(self._lib, p)
