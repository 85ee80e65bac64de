// Package variant is a thin cgo binding over libvariant (the optimizer,
// libvariant/include/variant/variant.h) and libvariant-client (the guidance client,
// bridge/client/include/variant/client.h), in the manner of levigo over LevelDB's C
// API: one call per C call, C errors turned into Go errors carrying the stable code,
// results copied out of C memory before returning.
//
// Build: CGO_CFLAGS and CGO_LDFLAGS must point at the headers and at the built
// libvariant.so / libvariant-client.so (CMake's go test sets them).
package variant

/*
#cgo LDFLAGS: -lvariant -lvariant-client
#include <stdlib.h>
#include "variant/variant.h"
#include "variant/client.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"
)

// ABIVersion is the libvariant ABI this binding was written against.
const ABIVersion = C.VARIANT_ABI_VERSION

// ClientABIVersion is the libvariant-client ABI this binding was written against.
const ClientABIVersion = C.VARIANT_CLIENT_ABI_VERSION

// Error is a failed libvariant call: Code is the stable VARIANT_E_* value.
type Error struct {
	Code    int
	Name    string
	Message string
}

func (e *Error) Error() string { return e.Name + ": " + e.Message }

// ClientError is a failed libvariant-client call: Code is VARIANT_CLIENT_E_*.
type ClientError struct {
	Code    int
	Name    string
	Message string
}

func (e *ClientError) Error() string {
	if e.Message == "" {
		return e.Name
	}
	return e.Name + ": " + e.Message
}

// Client error codes a caller may want to branch on.
const (
	ClientErrNoGuidance     = int(C.VARIANT_CLIENT_E_NO_GUIDANCE)
	ClientErrUnknownModel   = int(C.VARIANT_CLIENT_E_UNKNOWN_MODEL)
	ClientErrUnknownVariant = int(C.VARIANT_CLIENT_E_UNKNOWN_VARIANT)
	ClientErrNoSignal       = int(C.VARIANT_CLIENT_E_NO_SIGNAL)
)

// Version of the loaded libvariant.
func Version() string { return C.GoString(C.variant_version()) }

// CheckABI reports an error when the loaded libraries speak another ABI.
func CheckABI() error {
	if v := int(C.variant_abi_version()); v != ABIVersion {
		return fmt.Errorf("libvariant ABI %d, this binding speaks %d", v, ABIVersion)
	}
	if v := int(C.variant_client_abi_version()); v != ClientABIVersion {
		return fmt.Errorf("libvariant-client ABI %d, this binding speaks %d", v, ClientABIVersion)
	}
	return nil
}

// takeString copies a library-owned (variant_free) string and frees it.
func takeString(p *C.char) string {
	if p == nil {
		return ""
	}
	s := C.GoString(p)
	C.variant_free(unsafe.Pointer(p))
	return s
}

// Context is a libvariant context (catalog and operator tables). Not safe for
// concurrent use: callers serialize, as the C ABI requires.
type Context struct {
	c *C.variant_ctx
}

// NewContext loads the catalog and tables from dataDir ("" = the library's default).
func NewContext(dataDir string) (*Context, error) {
	var cdir *C.char
	if dataDir != "" {
		cdir = C.CString(dataDir)
		defer C.free(unsafe.Pointer(cdir))
	}
	var h *C.variant_ctx
	var errp *C.char
	if rc := C.variant_ctx_create(cdir, &h, &errp); rc != C.VARIANT_OK {
		return nil, &Error{int(rc), C.GoString(C.variant_status_name(rc)), takeString(errp)}
	}
	ctx := &Context{h}
	runtime.SetFinalizer(ctx, (*Context).Close)
	return ctx, nil
}

// Close releases the context; later calls fail.
func (x *Context) Close() {
	if x.c != nil {
		C.variant_ctx_destroy(x.c)
		x.c = nil
	}
}

func (x *Context) check(rc C.int) error {
	if rc == C.VARIANT_OK {
		return nil
	}
	return &Error{int(rc), C.GoString(C.variant_status_name(rc)), C.GoString(C.variant_ctx_last_error(x.c))}
}

var errClosed = errors.New("variant: context is closed")

// Solve solves a problem document (YAML or JSON, docs/problem.md), optionally from
// the current allocation/decision (nil: none); solver is "fast", "milp" or "both".
// It returns the decision as JSON (docs/decision.md).
func (x *Context) Solve(problem, current []byte, solver string) ([]byte, error) {
	if x.c == nil {
		return nil, errClosed
	}
	cp := C.CBytes(problem)
	defer C.free(cp)
	var cc unsafe.Pointer
	if current != nil {
		cc = C.CBytes(current)
		defer C.free(cc)
	}
	cs := C.CString(solver)
	defer C.free(unsafe.Pointer(cs))
	var out *C.char
	var n C.size_t
	rc := C.variant_solve(x.c, (*C.char)(cp), C.size_t(len(problem)), (*C.char)(cc),
		C.size_t(len(current)), cs, &out, &n)
	if err := x.check(rc); err != nil {
		return nil, err
	}
	defer C.variant_free(unsafe.Pointer(out))
	return C.GoBytes(unsafe.Pointer(out), C.int(n)), nil
}

// Spec is one variant: a model on an accelerator at a tensor-parallel degree.
// Zero fields take the library's defaults.
type Spec struct {
	Model, Accelerator string
	TP, MaxBatch       int
	MaxTokensPerStep   int
	Role               int // 0 PD, 1 P, 2 D
}

// Bucket is one (input, output) length with a weight.
type Bucket struct{ Input, Output, Weight float64 }

// Prediction is a replica's predicted steady state (variant_prediction).
type Prediction struct {
	RateRPS                                    float64
	TTFTP50Ms, TTFTP90Ms, TTFTP95Ms, TTFTP99Ms float64
	ITLMeanMs, ITLP95Ms, TTLTP95Ms             float64
	ThroughputTokS, Utilization, QueueLen      float64
	MeanBatch, KVCapacityTokens                float64
	MaxConcurrency                             int
	Stable                                     bool
}

type cargs struct {
	spec C.variant_spec
	wl   C.variant_workload
	free []unsafe.Pointer
}

func (a *cargs) release() {
	for _, p := range a.free {
		C.free(p)
	}
}

func newArgs(s Spec, buckets []Bucket, prefixHit float64) *cargs {
	a := &cargs{}
	a.spec.struct_size = C.size_t(unsafe.Sizeof(a.spec))
	m, acc := C.CString(s.Model), C.CString(s.Accelerator)
	a.free = append(a.free, unsafe.Pointer(m), unsafe.Pointer(acc))
	a.spec.model, a.spec.accelerator = m, acc
	a.spec.tp, a.spec.max_batch = C.int(s.TP), C.int(s.MaxBatch)
	a.spec.max_tokens_per_step, a.spec.role = C.int(s.MaxTokensPerStep), C.int(s.Role)
	n := len(buckets)
	arr := func(f func(Bucket) float64) *C.double {
		if n == 0 {
			return nil
		}
		p := C.malloc(C.size_t(n) * C.size_t(unsafe.Sizeof(C.double(0))))
		a.free = append(a.free, p)
		v := unsafe.Slice((*C.double)(p), n)
		for i, b := range buckets {
			v[i] = C.double(f(b))
		}
		return (*C.double)(p)
	}
	a.wl.struct_size = C.size_t(unsafe.Sizeof(a.wl))
	a.wl.input_tokens = arr(func(b Bucket) float64 { return b.Input })
	a.wl.output_tokens = arr(func(b Bucket) float64 { return b.Output })
	a.wl.weights = arr(func(b Bucket) float64 { return b.Weight })
	a.wl.n = C.size_t(n)
	a.wl.prefix_hit_ratio = C.double(prefixHit)
	return a
}

func fromC(p *C.variant_prediction) Prediction {
	return Prediction{
		RateRPS: float64(p.rate_rps), TTFTP50Ms: float64(p.ttft_p50_ms),
		TTFTP90Ms: float64(p.ttft_p90_ms), TTFTP95Ms: float64(p.ttft_p95_ms),
		TTFTP99Ms: float64(p.ttft_p99_ms), ITLMeanMs: float64(p.itl_mean_ms),
		ITLP95Ms: float64(p.itl_p95_ms), TTLTP95Ms: float64(p.ttlt_p95_ms),
		ThroughputTokS: float64(p.throughput_tok_s), Utilization: float64(p.utilization),
		QueueLen: float64(p.queue_len), MeanBatch: float64(p.mean_batch),
		KVCapacityTokens: float64(p.kv_capacity_tokens), MaxConcurrency: int(p.max_concurrency),
		Stable: p.stable != 0,
	}
}

// Predict is one replica of s under Poisson arrivals at rateRPS with the given mix.
func (x *Context) Predict(s Spec, buckets []Bucket, prefixHit, rateRPS float64) (Prediction, error) {
	if x.c == nil {
		return Prediction{}, errClosed
	}
	a := newArgs(s, buckets, prefixHit)
	defer a.release()
	var out C.variant_prediction
	out.struct_size = C.size_t(unsafe.Sizeof(out))
	if err := x.check(C.variant_model_predict(x.c, &a.spec, &a.wl, C.double(rateRPS), &out)); err != nil {
		return Prediction{}, err
	}
	return fromC(&out), nil
}

// MaxRate is the highest rate one replica of s sustains within slo
// ("ttft_p95_ms=500,itl_mean_ms=50").
func (x *Context) MaxRate(s Spec, buckets []Bucket, prefixHit float64, slo string) (Prediction, error) {
	if x.c == nil {
		return Prediction{}, errClosed
	}
	a := newArgs(s, buckets, prefixHit)
	defer a.release()
	cslo := C.CString(slo)
	defer C.free(unsafe.Pointer(cslo))
	var terms [8]C.variant_slo_term
	var n C.size_t
	if err := x.check(C.variant_slo_parse(x.c, cslo, &terms[0], 8, &n)); err != nil {
		return Prediction{}, err
	}
	var out C.variant_prediction
	out.struct_size = C.size_t(unsafe.Sizeof(out))
	if err := x.check(C.variant_model_max_rate(x.c, &a.spec, &a.wl, &terms[0], n, &out)); err != nil {
		return Prediction{}, err
	}
	return fromC(&out), nil
}
