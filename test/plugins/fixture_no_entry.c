/* Loader fixture: a shared object without variant_policy_entry. */
int some_other_function(void) { return 1; }
