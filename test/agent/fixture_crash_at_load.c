/* Plugin fixture for the fault "a plugin crashing at load": its entry point
 * dereferences NULL. The agent must refuse to start with a message naming the plugin
 * and the signal (docs/faults.md), not die of a segmentation fault. */
#include <stddef.h>
#include <signal.h>

#include "variant/policy_plugin.h"

__attribute__((visibility("default"))) const variant_policy_descriptor* variant_policy_entry(void) {
  raise(SIGSEGV);
  return NULL;
}
