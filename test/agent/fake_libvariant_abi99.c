/* A stand-in for libvariant that reports ABI 99: variant-agent must refuse it. */
int variant_abi_version(void) { return 99; }
const char* variant_version(void) { return "99.0.0"; }
