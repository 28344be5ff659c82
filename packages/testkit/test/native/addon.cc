// The testkit's own test addon, TEST ONLY (never part of the package): a native loop adapter
// broken on purpose (broken-loop.cc), a scripted fake core that drives any native loop table
// (scripted-core.cc), and the fds and loop introspection their tests need (fds.cc).
#include <napi.h>

#include "broken-loop.h"
#include "fds.h"
#include "scripted-core.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  testkit::InitBrokenLoop(env, exports);
  testkit::InitScriptedCore(env, exports);
  testkit::InitFds(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(testkit_native, Init)
