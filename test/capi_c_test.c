/* Plain C use of the public header: compiles as C11 and exercises the basic contract
 * (versions, handle checks, error codes and messages). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "variant/variant.h"

static int failures = 0;
#define CHECK(cond)                                             \
  do {                                                          \
    if (!(cond)) {                                              \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                               \
    }                                                           \
  } while (0)

int main(void) {
  variant_ctx* ctx = NULL;
  char* err = NULL;
  CHECK(variant_abi_version() == VARIANT_ABI_VERSION);
  CHECK(strcmp(variant_version(), VARIANT_VERSION_STRING) == 0);
  CHECK(strcmp(variant_status_name(VARIANT_E_UNKNOWN_MODEL), "VARIANT_E_UNKNOWN_MODEL") == 0);
  CHECK(strcmp(variant_status_name(9999), "VARIANT_E_UNKNOWN") == 0);

  /* A missing data directory is an error with a message, not a crash. */
  CHECK(variant_ctx_create("/nonexistent/dir", &ctx, &err) == VARIANT_E_IO);
  CHECK(ctx == NULL && err != NULL && strstr(err, "catalog") != NULL);
  variant_free(err);

  CHECK(variant_ctx_create(NULL, &ctx, &err) == VARIANT_OK);
  if (ctx == NULL) {
    fprintf(stderr, "cannot create context: %s\n", err ? err : "?");
    return 1;
  }

  variant_spec spec = VARIANT_SPEC_INIT;
  spec.model = "llama-3-8b";
  spec.accelerator = "h100";
  spec.tp = 1;
  variant_batch_latency bl = VARIANT_BATCH_LATENCY_INIT;
  CHECK(variant_model_batch_latency(ctx, &spec, 8, 512, 128, &bl) == VARIANT_OK);
  CHECK(bl.latency_s > bl.prefill_s && bl.prefill_s > 0 && bl.decode_step_s > 0);

  spec.model = "no-such-model";
  CHECK(variant_model_batch_latency(ctx, &spec, 8, 512, 128, &bl) == VARIANT_E_UNKNOWN_MODEL);
  CHECK(strstr(variant_ctx_last_error(ctx), "no-such-model") != NULL);
  spec.model = "llama-3-8b";
  spec.accelerator = "tpu-v9";
  CHECK(variant_model_batch_latency(ctx, &spec, 8, 512, 128, &bl) ==
        VARIANT_E_UNKNOWN_ACCELERATOR);
  spec.accelerator = "h100";
  CHECK(variant_model_batch_latency(ctx, &spec, 8, NAN, 128, &bl) == VARIANT_E_INVALID_ARGUMENT);
  CHECK(variant_model_batch_latency(ctx, &spec, -1, 512, 128, &bl) == VARIANT_E_INVALID_ARGUMENT);
  spec.model = "llama-2-70b";
  spec.accelerator = "l40s";
  CHECK(variant_model_batch_latency(ctx, &spec, 1, 512, 128, &bl) == VARIANT_E_DOES_NOT_FIT);

  /* A NULL handle is an error code, never a crash. */
  CHECK(variant_model_batch_latency(NULL, &spec, 1, 512, 128, &bl) == VARIANT_E_BAD_HANDLE);
  CHECK(strlen(variant_ctx_last_error(NULL)) > 0);

  variant_ctx_destroy(ctx);
  if (failures == 0) printf("capi_c_test: all checks passed\n");
  return failures == 0 ? 0 : 1;
}
