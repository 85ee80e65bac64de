/* Loader fixture: built for ABI 1.(host minor + 1): the host must refuse it. */
#include "variant/policy_plugin.h"

static void* create(const char* m, const char* p, size_t n, char* e, size_t c) {
  (void)m; (void)p; (void)n; (void)e; (void)c;
  return (void*)1;
}
static int decide(void* s, const variant_policy_input* in, variant_policy_output* out) {
  (void)s; (void)in; (void)out;
  return 0;
}
static void destroy(void* s) { (void)s; }

static const variant_policy_descriptor kDesc = {
    sizeof(variant_policy_descriptor), VARIANT_POLICY_ABI_MAJOR, VARIANT_POLICY_ABI_MINOR + 1,
    "newer", "9.9", "from the future", create, decide, destroy, NULL, NULL};

__attribute__((visibility("default"))) const variant_policy_descriptor* variant_policy_entry(void) {
  return &kDesc;
}
