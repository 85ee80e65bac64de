/*
 * libvariant — the variant autoscaler's optimizer, as a C ABI.
 *
 * This header is the specification. Anything not declared here is not API.
 *
 * CONVENTIONS
 *
 * Handles.    Every object is an opaque handle created by a *_create function and
 *             released by the matching *_destroy. Handles carry a magic tag that is
 *             checked on entry: a NULL, freed or foreign pointer yields
 *             VARIANT_E_BAD_HANDLE, never a crash (best effort for freed memory).
 *
 * Errors.     Every function that can fail returns an int status: VARIANT_OK (0) or
 *             one of the VARIANT_E_* codes below. Codes are stable and never reused.
 *             The human-readable message of the last failing call on a context is
 *             returned by variant_ctx_last_error(); it names what was wrong (the
 *             field, the value, the model). variant_status_name() maps a code to a
 *             fixed identifier string.
 *
 * Ownership.  Pointers passed in are borrowed for the duration of the call only;
 *             the library copies what it keeps. Buffers the library returns
 *             (char** out parameters) are owned by the caller and must be released
 *             with variant_free(). Strings returned as const char* are owned by the
 *             library and stay valid until the next call on the same handle, or for
 *             the life of the process where stated.
 *
 * Structs.    Input and output structs start with `size_t struct_size`, which the
 *             caller sets to sizeof(the struct) as it was compiled. The library reads
 *             and writes only fields inside that size, so structs can grow at the end
 *             without breaking older callers. Use the *_INIT macros.
 *
 * Threads.    A variant_ctx may be used by one thread at a time (callers serialize);
 *             distinct contexts are fully independent. The version and
 *             variant_status_name functions are thread-safe.
 *
 * Exceptions. No C++ exception ever crosses this boundary: every entry point catches
 *             everything and returns VARIANT_E_INTERNAL or VARIANT_E_OUT_OF_MEMORY.
 *
 * Units.      Times in milliseconds unless the name says _s; rates in requests per
 *             second; lengths in tokens; costs in currency units per hour.
 *
 * Versioning. VARIANT_VERSION_* give the version this header belongs to;
 *             variant_version() the library actually loaded. VARIANT_ABI_VERSION is the
 *             shared object's SOVERSION; it changes only when a released signature or
 *             struct layout changes incompatibly (the library evolves by adding
 *             *_v2 functions and struct fields at the end instead).
 */
#ifndef VARIANT_VARIANT_H_
#define VARIANT_VARIANT_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(VARIANT_BUILDING_LIBRARY)
#define VARIANT_EXPORT __attribute__((visibility("default")))
#else
#define VARIANT_EXPORT
#endif

#define VARIANT_VERSION_MAJOR 0
#define VARIANT_VERSION_MINOR 1
#define VARIANT_VERSION_PATCH 0
#define VARIANT_VERSION_STRING "0.1.0"
#define VARIANT_ABI_VERSION 1

/* ---------------------------------------------------------------- status ---- */

typedef enum variant_status {
  VARIANT_OK = 0,
  VARIANT_E_INVALID_ARGUMENT = 1,  /* a NULL, negative, NaN or out-of-range argument */
  VARIANT_E_UNKNOWN_MODEL = 2,     /* the model name is not in the catalog */
  VARIANT_E_UNKNOWN_ACCELERATOR = 3, /* the accelerator name is not in the catalog */
  VARIANT_E_DOES_NOT_FIT = 4,      /* weights + minimal KV cache exceed memory at this TP */
  VARIANT_E_SLO_UNATTAINABLE = 5,  /* no arrival rate > 0 meets the SLOs */
  VARIANT_E_PARSE = 6,             /* a document (YAML/JSON/CSV) could not be parsed */
  VARIANT_E_IO = 7,                /* a file could not be read */
  VARIANT_E_INFEASIBLE = 8,        /* the optimization problem has no feasible answer */
  VARIANT_E_BAD_HANDLE = 9,        /* NULL, freed or foreign handle */
  VARIANT_E_SCHEMA_VERSION = 10,   /* a document declares a schema version we do not know */
  VARIANT_E_NO_DATA = 11,          /* no measured table covers this accelerator */
  VARIANT_E_INTERNAL = 12,         /* a bug: please report it with the message */
  VARIANT_E_OUT_OF_MEMORY = 13,
  VARIANT_E_UNSUPPORTED = 14,      /* a valid request this version cannot serve */
  VARIANT_E_MISSING_FIELD = 15,    /* a required field of a document is absent */
  VARIANT_E_TIMEOUT = 16           /* a solver hit its time limit without any answer */
} variant_status;

/* A fixed identifier ("VARIANT_E_UNKNOWN_MODEL") for a code; "VARIANT_E_UNKNOWN" for
 * codes this version does not know. Never NULL; static storage. Thread-safe. */
VARIANT_EXPORT const char* variant_status_name(int code);

/* ---------------------------------------------------------------- version --- */

/* "MAJOR.MINOR.PATCH" of the loaded library; static storage. Thread-safe. */
VARIANT_EXPORT const char* variant_version(void);
/* VARIANT_ABI_VERSION of the loaded library. A host compares it with the macro it was
 * compiled with and refuses to run on a mismatch. Thread-safe. */
VARIANT_EXPORT int variant_abi_version(void);

/* Releases a buffer that the library returned through a char** out parameter.
 * NULL is accepted. */
VARIANT_EXPORT void variant_free(void* p);

/* ---------------------------------------------------------------- context --- */

typedef struct variant_ctx variant_ctx;

/* Creates a context holding the built-in catalog (models and accelerator types) and
 * the measured operator tables found under data_dir (NULL: the VARIANT_DATA_DIR
 * environment variable, else the directory compiled in at build time).
 * On failure *out is NULL and, if errptr is non-NULL, *errptr receives a message to
 * release with variant_free(). */
VARIANT_EXPORT int variant_ctx_create(const char* data_dir, variant_ctx** out,
                                      char** errptr);
/* Destroys a context; NULL is accepted. Every handle derived from it must already be
 * gone. */
VARIANT_EXPORT void variant_ctx_destroy(variant_ctx* ctx);
/* Message of the last failing call on ctx ("" if none). Valid until the next call on
 * ctx. For a bad handle, returns a static message. */
VARIANT_EXPORT const char* variant_ctx_last_error(const variant_ctx* ctx);

/* Adds or replaces catalog entries from a YAML (or JSON) document with top-level
 * `models:` and/or `accelerators:` lists; see docs/catalog.md. Entries are validated
 * whole before any is applied. */
VARIANT_EXPORT int variant_ctx_load_catalog(variant_ctx* ctx, const char* doc,
                                            size_t len);
/* Writes the catalog as JSON into *out (release with variant_free). */
VARIANT_EXPORT int variant_ctx_catalog_json(variant_ctx* ctx, char** out,
                                            size_t* out_len);

/* ---------------------------------------------------------------- variants -- */

typedef enum variant_role {
  VARIANT_ROLE_PD = 0, /* serves prefill and decode (the usual aggregated server) */
  VARIANT_ROLE_P = 1,  /* prefill only; ships the KV cache to a decode replica */
  VARIANT_ROLE_D = 2   /* decode only; receives the KV cache */
} variant_role;

/* One serving configuration of one model. Zero fields take defaults:
 * max_batch 256 sequences, max_tokens_per_step 8192 (vLLM's chunked-prefill token
 * budget), kv_link_gbps 100 (prefill→decode KV transfer, for role P), gpu_memory_util
 * 0.9 (fraction of accelerator memory vLLM may use). */
typedef struct variant_spec {
  size_t struct_size;
  const char* model;       /* catalog model name, e.g. "llama-3-8b" */
  const char* accelerator; /* catalog accelerator name, e.g. "h100" */
  int tp;                  /* tensor parallel degree: 1, 2, 4 or 8 */
  int max_batch;           /* max concurrent sequences (vLLM max_num_seqs) */
  int max_tokens_per_step; /* per-iteration token budget (max_num_batched_tokens) */
  int role;                /* variant_role */
  double kv_link_gbps;     /* GB/s for the P→D KV transfer */
  double gpu_memory_util;  /* fraction of memory given to weights + KV */
} variant_spec;
#define VARIANT_SPEC_INIT {sizeof(variant_spec), NULL, NULL, 1, 0, 0, VARIANT_ROLE_PD, 0.0, 0.0}

/* Request-length mix: n buckets, each a representative input and output length and a
 * weight (weights need not sum to 1; they are normalized). prefix_hit_ratio in [0,1)
 * is the fraction of input tokens served from the prefix cache. */
typedef struct variant_workload {
  size_t struct_size;
  const double* input_tokens;
  const double* output_tokens;
  const double* weights;
  size_t n;
  double prefix_hit_ratio;
} variant_workload;
#define VARIANT_WORKLOAD_INIT {sizeof(variant_workload), NULL, NULL, NULL, 0, 0.0}

typedef enum variant_metric {
  VARIANT_METRIC_TTFT = 0, /* time to first token */
  VARIANT_METRIC_ITL = 1,  /* inter-token latency */
  VARIANT_METRIC_TTLT = 2, /* time to last token (end-to-end) */
  VARIANT_METRIC_TPOT = 3  /* time per output token: one request's mean inter-token gap,
                              percentiles over requests (ITL percentiles are over gaps) */
} variant_metric;

/* One SLO term: metric at a percentile (0 < percentile < 100), or its mean
 * (percentile == 0), must not exceed target_ms. */
typedef struct variant_slo_term {
  int metric;
  double percentile;
  double target_ms;
} variant_slo_term;

/* Parses "ttft_p95_ms=500,itl_mean_ms=50,ttlt_p99_ms=20000" into at most cap terms.
 * *n receives the count. */
VARIANT_EXPORT int variant_slo_parse(variant_ctx* ctx, const char* text,
                                     variant_slo_term* terms, size_t cap, size_t* n);

typedef struct variant_batch_latency {
  size_t struct_size;
  double latency_s;     /* prefill of all B requests, then O decode steps */
  double prefill_s;     /* the prefill part */
  double decode_step_s; /* mean decode-step time over the O steps */
} variant_batch_latency;
#define VARIANT_BATCH_LATENCY_INIT {sizeof(variant_batch_latency), 0, 0, 0}

/* End-to-end time of a closed batch of `batch` requests that start together, each with
 * `input` prompt tokens and `output` generated tokens, on one replica of spec. */
VARIANT_EXPORT int variant_model_batch_latency(variant_ctx* ctx, const variant_spec* spec,
                                               int batch, double input, double output,
                                               variant_batch_latency* out);

/* Predicted steady-state behaviour of one replica at an arrival rate. */
typedef struct variant_prediction {
  size_t struct_size;
  double rate_rps;
  double ttft_p50_ms, ttft_p90_ms, ttft_p95_ms, ttft_p99_ms;
  double itl_mean_ms, itl_p95_ms;
  double ttlt_p95_ms;
  double throughput_tok_s; /* generated tokens per second */
  double utilization;      /* fraction of time the replica is not idle */
  double queue_len;        /* mean requests waiting for prefill */
  double mean_batch;       /* mean sequences in decode */
  double kv_capacity_tokens; /* KV cache size of one replica, tokens */
  int max_concurrency;     /* min(max_batch, KV capacity / mean sequence length) */
  int stable;              /* 0 if the queue grows without bound at this rate */
} variant_prediction;
#define VARIANT_PREDICTION_INIT {sizeof(variant_prediction), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}

/* Predicts one replica of spec under Poisson arrivals at rate_rps with the workload's
 * length mix. An unstable rate is not an error: out->stable is 0 and latencies are
 * +infinity. */
VARIANT_EXPORT int variant_model_predict(variant_ctx* ctx, const variant_spec* spec,
                                         const variant_workload* workload,
                                         double rate_rps, variant_prediction* out);

/* The highest arrival rate at which one replica of spec meets every SLO term, and the
 * prediction at that rate. VARIANT_E_SLO_UNATTAINABLE if none does. For role P only
 * TTFT terms apply, for role D only ITL terms. */
VARIANT_EXPORT int variant_model_max_rate(variant_ctx* ctx, const variant_spec* spec,
                                          const variant_workload* workload,
                                          const variant_slo_term* slo, size_t n_slo,
                                          variant_prediction* out);

/* ---------------------------------------------------------------- learning -- */

/* One observation of a live replica of spec over a window: arrival rate, mean
 * observed TTFT and ITL, and the mean input/output lengths seen. NaN fields are
 * treated as absent. */
typedef struct variant_observation {
  size_t struct_size;
  double rate_rps;
  double ttft_mean_ms;
  double itl_mean_ms;
  double input_mean;
  double output_mean;
  double mean_batch; /* mean running sequences, NaN if unknown */
} variant_observation;
#define VARIANT_OBSERVATION_INIT {sizeof(variant_observation), 0, 0, 0, 0, 0, 0}

/* Feeds one observation to the online correction of spec (see docs/model.md): a
 * per-variant scalar Kalman filter on the log ratio observed/predicted for prefill and
 * decode time, with an outlier gate. *accepted (if non-NULL) is 1 if the sample passed
 * the gate. */
VARIANT_EXPORT int variant_model_observe(variant_ctx* ctx, const variant_spec* spec,
                                         const variant_observation* obs, int* accepted);

/* Offline profiles: a user's own measurements of variants (docs/model.md, "Offline
 * profiles"). A CSV document with the header
 *   model,accelerator,tp,kind,batch,input,context,ms
 * (columns in any order; blank lines and lines starting with '#' are skipped) and one
 * row per measurement: kind "prefill" = `batch` prompts of `input` tokens prefilled in
 * one step took `ms` milliseconds (`context` may be empty); kind "decode" = one decode
 * step of `batch` sequences with `context` cached tokens each took `ms` (`input` may be
 * empty). For every variant (model, accelerator, tp) with rows, the library fits
 * measured = add + scale x a-priori per kind and uses it in place of the a-priori step
 * times in every later prediction, max_rate and observe of that variant (any max_batch,
 * token budget or role); the online correction multiplies on top. Variants without
 * rows are unaffected. Loading again replaces the fits of the variants it names.
 * The document is validated whole before anything is applied. Errors (the message
 * names the source, line and field): VARIANT_E_PARSE (not a number),
 * _MISSING_FIELD (a column or a required cell is absent), _UNKNOWN_MODEL,
 * _UNKNOWN_ACCELERATOR, _INVALID_ARGUMENT (tp not supported, batch < 1, negative, zero
 * or non-finite time or length, unknown kind, non-monotone times: a point more than
 * 10 % faster than one with no larger batch and no longer length), _DOES_NOT_FIT,
 * _NO_DATA (no rows), _IO (load_profiles: the file cannot be read). */
VARIANT_EXPORT int variant_ctx_load_profiles(variant_ctx* ctx, const char* path);
/* The same from a document in memory (text, len bytes; it need not be NUL-terminated). */
VARIANT_EXPORT int variant_ctx_load_profiles_text(variant_ctx* ctx, const char* text,
                                                  size_t len);
/* The calibration in force for (model, accelerator, tp) from a loaded profile:
 * measured = add_ms + scale x a-priori, for prefill and decode. Any out pointer may be
 * NULL. *found is 0 (and the outputs scale 1, add 0) when no profile names the variant. */
VARIANT_EXPORT int variant_ctx_profile_fit(variant_ctx* ctx, const char* model,
                                           const char* accelerator, int tp, int* found,
                                           double* prefill_scale, double* prefill_add_ms,
                                           double* decode_scale, double* decode_add_ms);

/* Current correction factors (multiplying the a-priori prefill and decode times): the
 * offline profile's scale (1 without one) times the online correction. */
VARIANT_EXPORT int variant_model_correction(variant_ctx* ctx, const variant_spec* spec,
                                            double* prefill_factor, double* decode_factor);

/* ---------------------------------------------------------------- optimizer - */

/* Solves a cluster allocation problem (docs/problem.md: accelerators, models, variants,
 * classes, demand, options) given as a YAML or JSON document, optionally with the
 * current allocation (same format as the `allocation` of a decision, or NULL/0).
 * `solver` is "fast", "milp" or "both". *out receives the decision as JSON
 * (docs/decision.md), released with variant_free. The decision carries a `state` object:
 * pass the decision back as `current` on the next call to keep the stability memory
 * (held demand, scale-down timer, forecast). Errors: VARIANT_E_PARSE, _MISSING_FIELD,
 * _SCHEMA_VERSION, _INVALID_ARGUMENT, _UNKNOWN_MODEL, _UNKNOWN_ACCELERATOR (the message
 * names the field), _INFEASIBLE (minimum replicas exceed the caps), _TIMEOUT (MILP with
 * no integer answer in time); *out is NULL then. */
VARIANT_EXPORT int variant_solve(variant_ctx* ctx, const char* problem, size_t problem_len,
                                 const char* current, size_t current_len,
                                 const char* solver, char** out, size_t* out_len);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* VARIANT_VARIANT_H_ */
