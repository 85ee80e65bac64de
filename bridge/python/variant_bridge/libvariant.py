"""ctypes binding over libvariant.so (libvariant/include/variant/variant.h)."""

import ctypes
import json
from ctypes import POINTER, byref, c_char_p, c_double, c_int, c_size_t, c_void_p

from ._load import load

ABI_VERSION = 1  # VARIANT_ABI_VERSION this binding was written against

_lib = None


class VariantError(Exception):
    """A libvariant call failed: .code (stable), .name (VARIANT_E_*), .message."""

    def __init__(self, code, name, message):
        super().__init__("%s: %s" % (name, message))
        self.code, self.name, self.message = code, name, message


class _Spec(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("model", c_char_p), ("accelerator", c_char_p),
                ("tp", c_int), ("max_batch", c_int), ("max_tokens_per_step", c_int),
                ("role", c_int), ("kv_link_gbps", c_double), ("gpu_memory_util", c_double)]


class _Workload(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("input_tokens", POINTER(c_double)),
                ("output_tokens", POINTER(c_double)), ("weights", POINTER(c_double)),
                ("n", c_size_t), ("prefix_hit_ratio", c_double)]


class _Prediction(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("rate_rps", c_double),
                ("ttft_p50_ms", c_double), ("ttft_p90_ms", c_double),
                ("ttft_p95_ms", c_double), ("ttft_p99_ms", c_double),
                ("itl_mean_ms", c_double), ("itl_p95_ms", c_double),
                ("ttlt_p95_ms", c_double), ("throughput_tok_s", c_double),
                ("utilization", c_double), ("queue_len", c_double), ("mean_batch", c_double),
                ("kv_capacity_tokens", c_double), ("max_concurrency", c_int),
                ("stable", c_int)]


class _SloTerm(ctypes.Structure):
    _fields_ = [("metric", c_int), ("percentile", c_double), ("target_ms", c_double)]


def _library(lib_dir=None):
    global _lib
    if _lib is not None:
        return _lib
    lib = load("variant", ABI_VERSION, lib_dir)
    lib.variant_status_name.restype = c_char_p
    lib.variant_status_name.argtypes = [c_int]
    lib.variant_version.restype = c_char_p
    lib.variant_abi_version.restype = c_int
    lib.variant_free.argtypes = [c_void_p]
    lib.variant_ctx_create.argtypes = [c_char_p, POINTER(c_void_p), POINTER(c_void_p)]
    lib.variant_ctx_destroy.argtypes = [c_void_p]
    lib.variant_ctx_last_error.restype = c_char_p
    lib.variant_ctx_last_error.argtypes = [c_void_p]
    lib.variant_ctx_load_catalog.argtypes = [c_void_p, c_char_p, c_size_t]
    lib.variant_slo_parse.argtypes = [c_void_p, c_char_p, POINTER(_SloTerm), c_size_t,
                                      POINTER(c_size_t)]
    lib.variant_model_predict.argtypes = [c_void_p, POINTER(_Spec), POINTER(_Workload),
                                          c_double, POINTER(_Prediction)]
    lib.variant_model_max_rate.argtypes = [c_void_p, POINTER(_Spec), POINTER(_Workload),
                                           POINTER(_SloTerm), c_size_t, POINTER(_Prediction)]
    lib.variant_solve.argtypes = [c_void_p, c_char_p, c_size_t, c_char_p, c_size_t, c_char_p,
                                  POINTER(c_void_p), POINTER(c_size_t)]
    if lib.variant_abi_version() != ABI_VERSION:
        raise OSError("libvariant ABI %d, this binding speaks %d" %
                      (lib.variant_abi_version(), ABI_VERSION))
    _lib = lib
    return lib


def version(lib_dir=None):
    return _library(lib_dir).variant_version().decode()


def abi_version(lib_dir=None):
    return _library(lib_dir).variant_abi_version()


class Spec:
    """One variant: model on accelerator at tensor-parallel degree tp (0 = defaults)."""

    ROLES = {"pd": 0, "p": 1, "d": 2}

    def __init__(self, model, accelerator, tp=1, max_batch=0, max_tokens_per_step=0,
                 role="pd", kv_link_gbps=0.0, gpu_memory_util=0.0):
        self.model, self.accelerator, self.tp = model, accelerator, tp
        self.max_batch, self.max_tokens_per_step = max_batch, max_tokens_per_step
        self.role, self.kv_link_gbps, self.gpu_memory_util = role, kv_link_gbps, gpu_memory_util

    def _c(self):
        if self.role not in self.ROLES:
            raise ValueError("role %r is not pd, p or d" % (self.role,))
        return _Spec(ctypes.sizeof(_Spec), self.model.encode(), self.accelerator.encode(),
                     self.tp, self.max_batch, self.max_tokens_per_step, self.ROLES[self.role],
                     self.kv_link_gbps, self.gpu_memory_util)


class Workload:
    """Request-length mix: [(input, output, weight), ...] and a prefix-cache hit ratio."""

    def __init__(self, buckets, prefix_hit_ratio=0.0):
        if not buckets:
            raise ValueError("a workload needs at least one bucket")
        self.buckets, self.prefix_hit_ratio = list(buckets), prefix_hit_ratio

    def _c(self):
        n = len(self.buckets)
        arr = c_double * n
        self._keep = (arr(*[b[0] for b in self.buckets]), arr(*[b[1] for b in self.buckets]),
                      arr(*[b[2] for b in self.buckets]))
        return _Workload(ctypes.sizeof(_Workload), self._keep[0], self._keep[1], self._keep[2],
                         n, self.prefix_hit_ratio)


def _prediction(p):
    return {name: getattr(p, name) for name, _ in _Prediction._fields_ if name != "struct_size"}


class Context:
    """A libvariant context (catalog + operator tables). One thread at a time."""

    def __init__(self, data_dir=None, lib_dir=None):
        self._lib = _library(lib_dir)
        h, err = c_void_p(), c_void_p()
        rc = self._lib.variant_ctx_create(data_dir.encode() if data_dir else None, byref(h),
                                          byref(err))
        if rc != 0:
            msg = ctypes.string_at(err).decode() if err.value else ""
            self._lib.variant_free(err)
            raise VariantError(rc, self._lib.variant_status_name(rc).decode(), msg)
        self._h = h

    def close(self):
        if getattr(self, "_h", None):
            self._lib.variant_ctx_destroy(self._h)
            self._h = None

    __del__ = close

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _check(self, rc):
        if rc != 0:
            raise VariantError(rc, self._lib.variant_status_name(rc).decode(),
                               self._lib.variant_ctx_last_error(self._h).decode())

    def load_catalog(self, doc):
        b = doc.encode()
        self._check(self._lib.variant_ctx_load_catalog(self._h, b, len(b)))

    def predict(self, spec, workload, rate_rps):
        """Steady state of one replica at rate_rps: a dict of variant_prediction's fields."""
        out = _Prediction(ctypes.sizeof(_Prediction))
        self._check(self._lib.variant_model_predict(self._h, byref(spec._c()),
                                                    byref(workload._c()), rate_rps, byref(out)))
        return _prediction(out)

    def max_rate(self, spec, workload, slo):
        """Highest rate one replica sustains within slo ("ttft_p95_ms=500,...")."""
        terms, n = (_SloTerm * 8)(), c_size_t()
        self._check(self._lib.variant_slo_parse(self._h, slo.encode(), terms, 8, byref(n)))
        out = _Prediction(ctypes.sizeof(_Prediction))
        self._check(self._lib.variant_model_max_rate(self._h, byref(spec._c()),
                                                     byref(workload._c()), terms, n.value,
                                                     byref(out)))
        return _prediction(out)

    def solve(self, problem, current=None, solver="fast"):
        """Solves a problem document (YAML/JSON text, or a dict); returns the decision dict."""
        if not isinstance(problem, str):
            problem = json.dumps(problem)
        if current is not None and not isinstance(current, str):
            current = json.dumps(current)
        p = problem.encode()
        c = current.encode() if current is not None else None
        out, n = c_void_p(), c_size_t()
        self._check(self._lib.variant_solve(self._h, p, len(p), c, len(c) if c else 0,
                                            solver.encode(), byref(out), byref(n)))
        try:
            return json.loads(ctypes.string_at(out, n.value).decode())
        finally:
            self._lib.variant_free(out)
