#include "core/tensor.h"
// STUB: replaced by the core implementation.
