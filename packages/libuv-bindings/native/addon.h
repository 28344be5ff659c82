// Per-environment state of the addon (one per main thread or worker) and the memory that
// backs every uv handle it opens.
#pragma once

// Once worker.terminate() is under way node-addon-api would turn a failed throw or a cut-short
// JS call into a fatal error or std::terminate for the whole process; this makes it give up on
// the exception instead (it could not reach JS anyway).
#define NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS
#include <napi.h>
#include <uv.h>

#include <unordered_set>

namespace multisock {

// The JS-visible side of a handle (Poll, Timer). Told to let go at env teardown.
class HandleOwner {
 public:
  virtual void Detach() = 0;

 protected:
  ~HandleOwner() = default;
};

// The memory of one uv handle. It lives from a successful uv_*_init until its close callback,
// which can come after its JS object was collected, since uv_close is asynchronous.
struct UvBox {
  UvBox() : handle{}, idle{} {}
  union {
    uv_handle_t handle;
    uv_poll_t poll;
    uv_timer_t timer;
  };
  uv_idle_t idle;                // Timer only (see timer.h); initialised when has_idle
  bool has_idle = false;         // closed along with `handle`
  int open_handles = 0;          // initialised handles not yet through their close callback
  HandleOwner* owner = nullptr;  // null once closing: no callback reaches JS any more
  class Addon* addon = nullptr;

  bool IsActive() const {
    return uv_is_active(&handle) ||
           (has_idle && uv_is_active(reinterpret_cast<const uv_handle_t*>(&idle)));
  }
};

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports);

  uv_loop_t* loop() const { return loop_; }
  Napi::Symbol CallbackKey() const { return callback_key_.Value(); }
  // A UvError (the class registered by the TS layer) for a negative libuv status.
  Napi::Error UvError(Napi::Env env, int status, const char* syscall) const;

  // Tracks a box whose handle(s) uv_*_init just initialised, so env teardown can close them.
  void Track(UvBox* box);
  // uv_close, once; the box is freed in the close callback.
  static void Close(UvBox* box);
  // Detaches every handle from its JS object and closes it: env teardown, or JS that can no
  // longer run (see HandleWrap::CallJs).
  void CloseAll();

 private:
  static void OnClosed(uv_handle_t* handle);
  static void OnTeardown(napi_async_cleanup_hook_handle hook, void* arg);
  Napi::Value SetErrorClass(const Napi::CallbackInfo& info);
  Napi::Value ErrName(const Napi::CallbackInfo& info);
  Napi::Value StrError(const Napi::CallbackInfo& info);
  Napi::Value OpenHandleCount(const Napi::CallbackInfo& info);

  napi_env env_;
  uv_loop_t* loop_ = nullptr;
  Napi::Reference<Napi::Symbol> callback_key_;
  Napi::FunctionReference uv_error_;
  std::unordered_set<UvBox*> open_;  // every box not yet through its close callback
  // Registered while open_ is not empty: Node aborts when a worker's loop still holds handles
  // at exit, so teardown closes them all and removes the hook once the last one is freed.
  napi_async_cleanup_hook_handle cleanup_hook_ = nullptr;
};

// Input validation: native code never trusts JS input.
int32_t ArgInt32(const Napi::Value& value, const char* what, int32_t min, int32_t max);
uint64_t ArgSafeUint(const Napi::Value& value, const char* what);
Napi::Function ArgFunction(const Napi::Value& value, const char* what);

}  // namespace multisock
