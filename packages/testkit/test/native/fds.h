// Real fds and a look at Node's loop for the driver's tests (fds.cc).
#pragma once

#include <napi.h>

namespace testkit {

// exports.socketpair, writeBytes, fill, drain, closeFd, uvHandles, uvHandleType.
void InitFds(Napi::Env env, Napi::Object exports);

}  // namespace testkit
