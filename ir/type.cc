#include "ir/type.h"
// STUB: replaced by the type implementation.
