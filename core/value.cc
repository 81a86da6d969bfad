#include "core/value.h"
// STUB: replaced by the core implementation.
