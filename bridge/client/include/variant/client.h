/*
 * libvariant-client — the guidance client, as a C ABI for request schedulers.
 *
 * This header is the specification. Anything not declared here is not API.
 *
 * A client subscribes to the `guidance` topic of the variant autoscaler's bus
 * (docs/bus.md) on a background thread and keeps the newest guidance as an immutable
 * snapshot. Queries read the snapshot that is current when they start: they never
 * block on the network, never wait for the subscriber thread, and see either the old
 * or the new guidance whole, never a mix.
 *
 * CONVENTIONS
 *
 * Handles.    variant_client is opaque, made by variant_client_create and released by
 *             variant_client_destroy. It carries a magic tag checked on entry: a NULL,
 *             destroyed or foreign pointer yields VARIANT_CLIENT_E_BAD_HANDLE (best
 *             effort for freed memory), never a crash.
 *
 * Errors.     Every function that can fail returns an int: VARIANT_CLIENT_OK (0) or a
 *             VARIANT_CLIENT_E_* code. Codes are stable and never reused.
 *             variant_client_status_name() maps a code to a fixed identifier.
 *
 * Ownership.  Pointers passed in are borrowed for the call only. Results are copied
 *             into caller-provided memory (arrays with a capacity, fixed-size name
 *             fields); the library never hands out pointers into its own state, so
 *             nothing returned is invalidated by a later guidance message.
 *
 * Threads.    Every function except variant_client_destroy may be called from any
 *             number of threads at once on the same handle. variant_client_destroy
 *             must not race with other calls on that handle. Queries never wait for
 *             the network or for decoding: they take a reference to the current
 *             immutable snapshot (a lock held only for that reference-count increment)
 *             and answer from it.
 *
 * Exceptions. No C++ exception crosses this boundary.
 *
 * Guidance.   The agent's `guidance` body is
 *               {"decision_id": int,
 *                "models": [{"model", "variants": [{"variant", "weight", "load_signal"}]}],
 *                "optimizer": {"models": [{"model", "slices": [{"class", "input",
 *                                "output", "rate_rps", "weights": {variant: w}, ...}]}],
 *                              "variants": [{"model", "variant", "replicas", "load"}]}}
 *             `models` holds the models decided by a plugin policy (one weight per
 *             variant, whatever the request's lengths); `optimizer` the optimizer's
 *             weights per (class, input-length, output-length) bucket. Keys this
 *             version does not know are ignored; a message whose header declares
 *             another schema version, or whose known keys have the wrong type or an
 *             invalid value (negative or non-finite weight or load), is rejected whole
 *             and the previous guidance stays in force (see variant_client_stats).
 *
 * Versioning. VARIANT_CLIENT_VERSION_* give the version of this header;
 *             variant_client_version() the loaded library's. VARIANT_CLIENT_ABI_VERSION
 *             is the shared object's SOVERSION. Structs start with struct_size (set it
 *             to sizeof as compiled, or use the *_INIT macros): the library reads and
 *             writes only fields inside that size, so structs grow at the end.
 */
#ifndef VARIANT_CLIENT_H_
#define VARIANT_CLIENT_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(VARIANT_CLIENT_BUILDING_LIBRARY)
#define VARIANT_CLIENT_EXPORT __attribute__((visibility("default")))
#else
#define VARIANT_CLIENT_EXPORT
#endif

#define VARIANT_CLIENT_VERSION_MAJOR 0
#define VARIANT_CLIENT_VERSION_MINOR 1
#define VARIANT_CLIENT_VERSION_PATCH 0
#define VARIANT_CLIENT_VERSION_STRING "0.1.0"
#define VARIANT_CLIENT_ABI_VERSION 1

/* Longest variant name, including its terminating NUL. Guidance naming a longer
 * variant is rejected. */
#define VARIANT_CLIENT_NAME_MAX 128

typedef enum variant_client_status {
  VARIANT_CLIENT_OK = 0,
  VARIANT_CLIENT_E_INVALID_ARGUMENT = 1, /* NULL where a value is needed, bad endpoint */
  VARIANT_CLIENT_E_BAD_HANDLE = 2,       /* NULL, destroyed or foreign handle */
  VARIANT_CLIENT_E_NO_GUIDANCE = 3,      /* no valid guidance received yet */
  VARIANT_CLIENT_E_UNKNOWN_MODEL = 4,    /* the model is not in the current guidance */
  VARIANT_CLIENT_E_UNKNOWN_VARIANT = 5,  /* the variant is not in the model's guidance */
  VARIANT_CLIENT_E_UNKNOWN_CLASS = 6,    /* no bucket of that class for the model */
  VARIANT_CLIENT_E_NO_SIGNAL = 7,        /* the variant is listed, its load is unknown */
  VARIANT_CLIENT_E_CAPACITY = 8,         /* the output array is too small; *n = needed */
  VARIANT_CLIENT_E_CONNECT = 9,          /* the bus endpoint could not be connected */
  VARIANT_CLIENT_E_INTERNAL = 10,        /* a bug */
  VARIANT_CLIENT_E_OUT_OF_MEMORY = 11
} variant_client_status;

/* A fixed identifier ("VARIANT_CLIENT_E_UNKNOWN_MODEL"); "VARIANT_CLIENT_E_UNKNOWN" for
 * codes this version does not know. Never NULL; static storage. Thread-safe. */
VARIANT_CLIENT_EXPORT const char* variant_client_status_name(int code);
/* "MAJOR.MINOR.PATCH" of the loaded library; static storage. Thread-safe. */
VARIANT_CLIENT_EXPORT const char* variant_client_version(void);
/* VARIANT_CLIENT_ABI_VERSION of the loaded library. Thread-safe. */
VARIANT_CLIENT_EXPORT int variant_client_abi_version(void);
/* Releases a buffer returned through a char** out parameter. NULL is accepted. */
VARIANT_CLIENT_EXPORT void variant_client_free(void* p);

typedef struct variant_client variant_client;

typedef struct variant_client_options {
  size_t struct_size;
  /* ZeroMQ endpoint of the agent's XPUB socket, e.g. "tcp://variant-agent:5556".
   * NULL or "": no subscription; guidance arrives only by variant_client_feed. */
  const char* endpoint;
  /* Messages larger than this (all frames) are rejected; 0 = 8 MiB. */
  size_t max_message_bytes;
} variant_client_options;
#define VARIANT_CLIENT_OPTIONS_INIT {sizeof(variant_client_options), NULL, 0}

/* Creates a client and, with an endpoint, starts its subscriber thread (which
 * reconnects by itself: an agent that is not up yet is not an error). On failure
 * *out is NULL and, if errptr is non-NULL, *errptr receives a message to release with
 * variant_client_free. */
VARIANT_CLIENT_EXPORT int variant_client_create(const variant_client_options* opt,
                                                variant_client** out, char** errptr);
/* Stops the subscriber thread and releases the client. NULL is accepted. No other call
 * on this handle may be running or follow. */
VARIANT_CLIENT_EXPORT void variant_client_destroy(variant_client* c);

/* Hands the client one bus message (the header and body frames of a `guidance`
 * message), exactly as if it had arrived from the bus: for schedulers that receive
 * the bus themselves, and for tests. Returns VARIANT_CLIENT_OK when the message was
 * accepted; VARIANT_CLIENT_E_INVALID_ARGUMENT when it was rejected (the previous
 * guidance stays; *errptr, if non-NULL, names what was wrong). Thread-safe. */
VARIANT_CLIENT_EXPORT int variant_client_feed(variant_client* c, const void* header,
                                              size_t header_len, const void* body,
                                              size_t body_len, char** errptr);

typedef struct variant_client_weight {
  char variant[VARIANT_CLIENT_NAME_MAX];
  double weight; /* in [0, 1]; the weights of one answer sum to 1 (or are all 0) */
} variant_client_weight;

/* Where an answer came from. */
typedef struct variant_client_pick {
  size_t struct_size;
  int64_t decision_id;      /* of the guidance the answer was read from */
  int per_bucket;           /* 1: an optimizer bucket; 0: a plugin's per-model weights */
  double bucket_input;      /* the bucket's representative lengths (per_bucket only) */
  double bucket_output;
  double unserved_fraction; /* of the bucket's demand, per the optimizer (else 0) */
} variant_client_pick;
#define VARIANT_CLIENT_PICK_INIT {sizeof(variant_client_pick), 0, 0, 0.0, 0.0, 0.0}

/* The variant weights for one request of `model` with input_tokens prompt tokens and
 * (expected) output_tokens generated tokens: the weights of the model's bucket nearest
 * to (input, output) in log-length, restricted to service class `cls` when it is
 * non-NULL and non-empty; over all classes otherwise (buckets with the same lengths
 * then combine, weighted by their demand). For a plugin-decided model, its per-variant
 * weights, whatever the lengths. Weights are written to out[0..*n) in decreasing order
 * (ties by name); variants with weight 0 are left out. If cap < the count, nothing is
 * written, *n receives the count and VARIANT_CLIENT_E_CAPACITY is returned. `pick` may
 * be NULL. Lengths below 1 are read as 1. Errors: _NO_GUIDANCE, _UNKNOWN_MODEL,
 * _UNKNOWN_CLASS, _INVALID_ARGUMENT (NULL model/out/n, NaN lengths). Non-blocking,
 * thread-safe. */
VARIANT_CLIENT_EXPORT int variant_client_weights(variant_client* c, const char* model,
                                                 const char* cls, double input_tokens,
                                                 double output_tokens,
                                                 variant_client_weight* out, size_t cap,
                                                 size_t* n, variant_client_pick* pick);

/* The load signal of one variant: its assigned demand over its SLO capacity, 1.0 at
 * the SLO capacity, >= 1 saturated. Errors: _NO_GUIDANCE, _UNKNOWN_MODEL,
 * _UNKNOWN_VARIANT, _NO_SIGNAL (listed without a load). Non-blocking, thread-safe. */
VARIANT_CLIENT_EXPORT int variant_client_load(variant_client* c, const char* model,
                                              const char* variant, double* load);

typedef struct variant_client_stats {
  size_t struct_size;
  uint64_t accepted;       /* guidance messages accepted */
  uint64_t rejected;       /* guidance messages rejected (previous guidance kept) */
  int64_t decision_id;     /* of the current guidance; -1 before any */
  double received_unix_s;  /* when the current guidance was accepted (receiver clock) */
  uint64_t generation;     /* +1 per accepted message: cheap change detection */
} variant_client_stats;
#define VARIANT_CLIENT_STATS_INIT {sizeof(variant_client_stats), 0, 0, -1, 0.0, 0}

/* Counters and the current guidance's identity. Thread-safe. */
VARIANT_CLIENT_EXPORT int variant_client_get_stats(variant_client* c,
                                                   variant_client_stats* out);
/* The reason the last rejected message was rejected ("" if none), as a string to
 * release with variant_client_free. Thread-safe. */
VARIANT_CLIENT_EXPORT int variant_client_last_rejection(variant_client* c, char** out);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* VARIANT_CLIENT_H_ */
