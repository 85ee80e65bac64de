/* Loader fixture: built for another ABI major (0): the host must refuse it. */
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
    sizeof(variant_policy_descriptor), 0, 0, "old", "0.1", "from the past", create, decide, destroy, NULL, NULL};

__attribute__((visibility("default"))) const variant_policy_descriptor* variant_policy_entry(void) {
  return &kDesc;
}
