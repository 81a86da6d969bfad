// Moved to net/grpc_channel.h (the transport layer under executors/ and
// service/). This forwarding header keeps includes outside the executor
// layer's owners (python/, bench/) building until they name the new path;
// new code includes net/grpc_channel.h.
#ifndef FEDEXEC_EXECUTORS_GRPC_CHANNEL_H_
#define FEDEXEC_EXECUTORS_GRPC_CHANNEL_H_

#include "net/grpc_channel.h"

#endif  // FEDEXEC_EXECUTORS_GRPC_CHANNEL_H_
