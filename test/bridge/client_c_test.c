/* The guidance client's header must compile as plain C, and the basic calls work
 * from C: a C++-ism in variant/client.h breaks this target. */
#include <stdio.h>
#include <string.h>

#include "variant/client.h"

int main(void) {
  variant_client_options o = VARIANT_CLIENT_OPTIONS_INIT;
  variant_client* c = NULL;
  char* err = NULL;
  variant_client_weight w[4];
  size_t n = 0;
  variant_client_stats st = VARIANT_CLIENT_STATS_INIT;
  if (variant_client_create(&o, &c, &err) != VARIANT_CLIENT_OK) {
    fprintf(stderr, "create: %s\n", err ? err : "?");
    return 1;
  }
  if (variant_client_weights(c, "m", NULL, 10, 10, w, 4, &n, NULL) != VARIANT_CLIENT_E_NO_GUIDANCE) return 2;
  if (variant_client_get_stats(c, &st) != VARIANT_CLIENT_OK || st.decision_id != -1) return 3;
  if (strcmp(variant_client_status_name(VARIANT_CLIENT_E_CAPACITY), "VARIANT_CLIENT_E_CAPACITY") != 0) return 4;
  variant_client_destroy(c);
  puts("client C ABI: 1 passed, 0 failed");
  return 0;
}
