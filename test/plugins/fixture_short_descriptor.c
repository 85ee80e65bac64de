/* Loader fixture: declares a descriptor smaller than the minimum (no callbacks). The
 * host must read nothing past struct_size and refuse it. */
#include <stddef.h>
#include <stdint.h>

#include "variant/policy_plugin.h"

typedef struct {
  size_t struct_size;
  uint16_t abi_major;
  uint16_t abi_minor;
  const char* name;
} short_descriptor;

static const short_descriptor kDesc = {sizeof(short_descriptor), VARIANT_POLICY_ABI_MAJOR,
                                       VARIANT_POLICY_ABI_MINOR, "short"};

__attribute__((visibility("default"))) const void* variant_policy_entry(void) { return &kDesc; }
