package variant

/*
#include <stdlib.h>
#include <string.h>
#include "variant/client.h"
*/
import "C"

import (
	"runtime"
	"sync"
	"unsafe"
)

// Weight is one variant's share of a request bucket.
type Weight struct {
	Variant string
	Weight  float64
}

// Pick says where a Weights answer came from.
type Pick struct {
	DecisionID       int64
	PerBucket        bool
	BucketInput      float64
	BucketOutput     float64
	UnservedFraction float64
}

// Stats are the client's counters and its current guidance's identity.
type Stats struct {
	Accepted, Rejected uint64
	DecisionID         int64
	ReceivedUnixS      float64
	Generation         uint64
}

// Client receives the agent's guidance on a background thread (in C); its query
// methods are safe for concurrent use and never block on the network.
type Client struct {
	mu sync.RWMutex // guards c against Close racing queries (queries share it)
	c  *C.variant_client
}

func clientErr(rc C.int, msg string) error {
	return &ClientError{int(rc), C.GoString(C.variant_client_status_name(rc)), msg}
}

func takeClientString(p *C.char) string {
	if p == nil {
		return ""
	}
	s := C.GoString(p)
	C.variant_client_free(unsafe.Pointer(p))
	return s
}

// NewClient subscribes to endpoint (the agent's XPUB address, e.g.
// "tcp://127.0.0.1:5556"); "" makes a client fed only by Feed.
func NewClient(endpoint string) (*Client, error) {
	var opt C.variant_client_options
	opt.struct_size = C.size_t(unsafe.Sizeof(opt))
	if endpoint != "" {
		opt.endpoint = C.CString(endpoint)
		defer C.free(unsafe.Pointer(opt.endpoint))
	}
	var h *C.variant_client
	var errp *C.char
	if rc := C.variant_client_create(&opt, &h, &errp); rc != C.VARIANT_CLIENT_OK {
		return nil, clientErr(rc, takeClientString(errp))
	}
	cl := &Client{c: h}
	runtime.SetFinalizer(cl, (*Client).Close)
	return cl, nil
}

// Close stops the subscriber and releases the client; later calls fail.
func (cl *Client) Close() {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.c != nil {
		C.variant_client_destroy(cl.c)
		cl.c = nil
	}
}

func bytesPtr(b []byte) (unsafe.Pointer, func()) {
	if len(b) == 0 {
		return nil, func() {}
	}
	p := C.CBytes(b)
	return p, func() { C.free(p) }
}

// Feed hands over one guidance message's header and body frames.
func (cl *Client) Feed(header, body []byte) error {
	cl.mu.RLock()
	defer cl.mu.RUnlock()
	h, fh := bytesPtr(header)
	defer fh()
	b, fb := bytesPtr(body)
	defer fb()
	var errp *C.char
	rc := C.variant_client_feed(cl.c, h, C.size_t(len(header)), b, C.size_t(len(body)), &errp)
	msg := takeClientString(errp)
	if rc != C.VARIANT_CLIENT_OK {
		return clientErr(rc, msg)
	}
	return nil
}

// Weights returns the variant weights for one request of model with the given
// input and (expected) output lengths, in decreasing weight; class "" = any class.
func (cl *Client) Weights(model, class string, inputTokens, outputTokens float64) ([]Weight, Pick, error) {
	cl.mu.RLock()
	defer cl.mu.RUnlock()
	cm := C.CString(model)
	defer C.free(unsafe.Pointer(cm))
	var cc *C.char
	if class != "" {
		cc = C.CString(class)
		defer C.free(unsafe.Pointer(cc))
	}
	capacity := 16
	for {
		buf := make([]C.variant_client_weight, capacity)
		var n C.size_t
		var pick C.variant_client_pick
		pick.struct_size = C.size_t(unsafe.Sizeof(pick))
		rc := C.variant_client_weights(cl.c, cm, cc, C.double(inputTokens), C.double(outputTokens),
			&buf[0], C.size_t(capacity), &n, &pick)
		if rc == C.VARIANT_CLIENT_E_CAPACITY {
			capacity = int(n)
			continue
		}
		if rc != C.VARIANT_CLIENT_OK {
			return nil, Pick{}, clientErr(rc, "")
		}
		out := make([]Weight, int(n))
		for i := range out {
			out[i] = Weight{C.GoString(&buf[i].variant[0]), float64(buf[i].weight)}
		}
		return out, Pick{int64(pick.decision_id), pick.per_bucket != 0, float64(pick.bucket_input),
			float64(pick.bucket_output), float64(pick.unserved_fraction)}, nil
	}
}

// Load returns a variant's load signal (1.0 = at its SLO capacity, >= 1 saturated).
func (cl *Client) Load(model, variant string) (float64, error) {
	cl.mu.RLock()
	defer cl.mu.RUnlock()
	cm, cv := C.CString(model), C.CString(variant)
	defer C.free(unsafe.Pointer(cm))
	defer C.free(unsafe.Pointer(cv))
	var v C.double
	if rc := C.variant_client_load(cl.c, cm, cv, &v); rc != C.VARIANT_CLIENT_OK {
		return 0, clientErr(rc, "")
	}
	return float64(v), nil
}

// Stats returns the counters and the current guidance's decision id (-1: none yet).
func (cl *Client) Stats() (Stats, error) {
	cl.mu.RLock()
	defer cl.mu.RUnlock()
	var s C.variant_client_stats
	s.struct_size = C.size_t(unsafe.Sizeof(s))
	if rc := C.variant_client_get_stats(cl.c, &s); rc != C.VARIANT_CLIENT_OK {
		return Stats{}, clientErr(rc, "")
	}
	return Stats{uint64(s.accepted), uint64(s.rejected), int64(s.decision_id),
		float64(s.received_unix_s), uint64(s.generation)}, nil
}

// LastRejection is why the last rejected message was rejected ("" if none).
func (cl *Client) LastRejection() (string, error) {
	cl.mu.RLock()
	defer cl.mu.RUnlock()
	var p *C.char
	if rc := C.variant_client_last_rejection(cl.c, &p); rc != C.VARIANT_CLIENT_OK {
		return "", clientErr(rc, "")
	}
	return takeClientString(p), nil
}
