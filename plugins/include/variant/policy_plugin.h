/*
 * Scaling-policy plugins for the variant agent (and the simulator): the plugin ABI.
 *
 * This header is the specification; docs/plugins.md explains it with examples.
 *
 * ENTRY.      A plugin is a shared object exporting one C function,
 *               const variant_policy_descriptor* variant_policy_entry(void);
 *             returning a pointer to static storage valid until dlclose.
 *
 * DESCRIPTOR. Starts with `struct_size` (the size of the descriptor the plugin was
 *             compiled with) and the ABI major/minor it was built for. The host reads
 *             only fields inside struct_size and refuses the plugin when
 *               - struct_size < VARIANT_POLICY_DESCRIPTOR_MIN_SIZE (too short),
 *               - abi_major != the host's VARIANT_POLICY_ABI_MAJOR,
 *               - abi_minor >  the host's VARIANT_POLICY_ABI_MINOR (built for a newer
 *                 host: it may rely on callbacks or fields this host does not fill),
 *               - a required callback (create, decide, destroy) is NULL.
 *             Minor versions only add fields at the end of structs.
 *
 * INSTANCES.  create() makes one policy instance for one model from a JSON object of
 *             parameters (the `params:` of the model's policy in the agent config).
 *             An instance is used by one thread at a time. Instances are independent.
 *
 * TIME.       Policies never read a clock: every decide() call carries `now_s`, the
 *             host's clock in seconds (wall clock in the agent, virtual clock in the
 *             simulator). now_s never decreases between calls on one instance.
 *
 * OWNERSHIP.  Input pointers are borrowed for the call. Output arrays are allocated
 *             by the host with n_variants entries; the plugin writes into them.
 *             Error text goes into the host-provided buffer (NUL-terminated,
 *             truncated to its capacity).
 *
 * MISSING.    A metric the host does not have is NaN (doubles) or -1 (counts).
 *             `stale` = 1 means the data is held from a source that went quiet: a
 *             policy must not scale down on it.
 *
 * MEMORY.     (ABI 1.1, optional) A policy with memory between calls (HPA's
 *             recommendation window) may export save() and restore(), so the host can
 *             keep that memory in its state file across a restart. save() hands the
 *             bytes (any format the plugin chooses; its own version inside) to the
 *             host's write callback, which copies them. restore() gets them back on a
 *             fresh instance before its first decide(); it returns nonzero (with a
 *             message) for bytes it does not understand, and the instance then starts
 *             empty. A host reads these fields only when struct_size covers them.
 */
#ifndef VARIANT_POLICY_PLUGIN_H_
#define VARIANT_POLICY_PLUGIN_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VARIANT_POLICY_ABI_MAJOR 1
#define VARIANT_POLICY_ABI_MINOR 1
#define VARIANT_POLICY_ENTRY_SYMBOL "variant_policy_entry"

/* What a policy sees of one variant of the model. */
typedef struct variant_policy_variant {
  size_t struct_size;
  const char* name;        /* variant name, unique within the model */
  const char* accelerator; /* accelerator type */
  int tp;                  /* accelerators per replica */
  int max_batch;           /* max concurrent sequences per replica (0 = unknown) */
  int role;                /* 0 PD, 1 P, 2 D (as variant_role in variant.h) */
  double cost_per_hour;    /* per replica */
  int replicas_current;    /* what the actuator reports (ready + starting), -1 unknown */
  int replicas_ready;      /* -1 unknown */
  int replicas_starting;   /* -1 unknown */
  double arrival_rate_rps; /* observed arrivals routed to this variant, NaN unknown */
  double running;          /* total running sequences over its replicas, NaN unknown */
  double waiting;          /* total waiting requests over its replicas, NaN unknown */
  double kv_usage;         /* mean KV-cache usage fraction, NaN unknown */
  double ttft_mean_ms;     /* NaN unknown */
  double itl_mean_ms;      /* NaN unknown */
  double input_mean;       /* tokens, NaN unknown */
  double output_mean;      /* tokens, NaN unknown */
  int stale;               /* 1: held data from a quiet source; never scale down on it */
} variant_policy_variant;

typedef struct variant_policy_input {
  size_t struct_size;
  const char* model;
  double now_s;             /* the host's clock (wall or virtual), seconds */
  double arrival_rate_rps;  /* model-level demand (sum over variants and sources), NaN unknown */
  double input_mean;        /* model-level mean input tokens, NaN unknown */
  double output_mean;       /* model-level mean output tokens, NaN unknown */
  int stale;                /* 1 if any of the model's data is held from a quiet source */
  size_t n_variants;
  const variant_policy_variant* variants;
} variant_policy_input;

typedef struct variant_policy_output {
  size_t struct_size;
  size_t n_variants;        /* entries in each array (== input n_variants) */
  int* desired_replicas;    /* host-initialised to the current replicas (or 0) */
  double* load_signal;      /* per variant, demand / SLO capacity; host-initialised NaN */
  double* weight;           /* routing weight per variant, summing to 1; host-initialised NaN */
  char* error;              /* message buffer for a failing call */
  size_t error_cap;
} variant_policy_output;

/* Creates an instance. params/params_len: a JSON object (UTF-8), possibly "{}".
 * Returns NULL on failure with a message in err (capacity err_cap). */
typedef void* (*variant_policy_create_fn)(const char* model, const char* params,
                                          size_t params_len, char* err, size_t err_cap);
/* Decides for one model. Returns 0 on success; nonzero with out->error set on failure,
 * in which case the host keeps the previous decision for this model. */
typedef int (*variant_policy_decide_fn)(void* instance, const variant_policy_input* in,
                                        variant_policy_output* out);
typedef void (*variant_policy_destroy_fn)(void* instance);
/* ABI 1.1: memory across restarts (see MEMORY). write() may be called any number of
 * times; the bytes are concatenated. Returns 0 on success. */
typedef void (*variant_policy_write_fn)(void* sink, const char* data, size_t len);
typedef int (*variant_policy_save_fn)(void* instance, variant_policy_write_fn write, void* sink);
typedef int (*variant_policy_restore_fn)(void* instance, const char* data, size_t len, char* err,
                                         size_t err_cap);

typedef struct variant_policy_descriptor {
  size_t struct_size;       /* sizeof(variant_policy_descriptor) as the plugin compiled it */
  uint16_t abi_major;
  uint16_t abi_minor;
  const char* name;         /* e.g. "hpa": what the config's `policy:` names */
  const char* version;      /* the plugin's own version string */
  const char* description;
  variant_policy_create_fn create;
  variant_policy_decide_fn decide;
  variant_policy_destroy_fn destroy;
  /* ABI 1.1, optional (NULL: the policy has no memory to keep) */
  variant_policy_save_fn save;
  variant_policy_restore_fn restore;
} variant_policy_descriptor;

/* The smallest descriptor a host accepts: everything up to and including destroy. */
#define VARIANT_POLICY_DESCRIPTOR_MIN_SIZE \
  (offsetof(variant_policy_descriptor, destroy) + sizeof(variant_policy_destroy_fn))

typedef const variant_policy_descriptor* (*variant_policy_entry_fn)(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* VARIANT_POLICY_PLUGIN_H_ */
