#include "core/dtype.h"
// STUB: replaced by the core implementation.
