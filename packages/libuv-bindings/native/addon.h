// Per-environment state of the addon (one per main thread or worker) and the memory that
// backs every uv handle it opens.
#pragma once

// Once worker.terminate() is under way node-addon-api would turn a failed throw or a cut-short
// JS call into a fatal error or std::terminate for the whole process; this makes it give up on
// the exception instead (it could not reach JS anyway).
#define NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS
#include <multisock/uv_handles.h>
#include <napi.h>
#include <uv.h>

namespace multisock {

using uv::Box;

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports);

  uv_loop_t* loop() const { return handles_.loop(); }
  uv::Handles& handles() { return handles_; }
  Napi::Symbol CallbackKey() const { return callback_key_.Value(); }
  // A UvError (the class registered by the TS layer) for a negative libuv status.
  Napi::Error UvError(Napi::Env env, int status, const char* syscall) const;

  // Detaches every handle from its JS object and closes it: JS that can no longer run (see
  // HandleWrap::CallJs). Env teardown does the same (uv::Handles).
  void CloseAll() { handles_.CloseAll(); }

 private:
  Napi::Value SetErrorClass(const Napi::CallbackInfo& info);
  Napi::Value ErrName(const Napi::CallbackInfo& info);
  Napi::Value StrError(const Napi::CallbackInfo& info);
  Napi::Value OpenHandleCount(const Napi::CallbackInfo& info);

  uv::Handles handles_;
  Napi::Reference<Napi::Symbol> callback_key_;
  Napi::FunctionReference uv_error_;
};

// Input validation: native code never trusts JS input.
int32_t ArgInt32(const Napi::Value& value, const char* what, int32_t min, int32_t max);
uint64_t ArgSafeUint(const Napi::Value& value, const char* what);
Napi::Function ArgFunction(const Napi::Value& value, const char* what);

}  // namespace multisock
