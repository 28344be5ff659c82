// Timer: a one-shot timeout on Node's loop.
//
// A timeout above 0 is a uv_timer_t. A timeout of 0 runs from a uv_idle_t instead, which fires
// once per loop turn: libuv 1.46 (Node 20) runs a timer that is restarted with 0 from inside
// a timer callback again in the same timer phase, over and over, without polling for I/O.
#pragma once

#include "handle_wrap.h"

namespace multisock {

class Timer : public HandleWrap<Timer> {
 public:
  static constexpr const char* kName = "Timer";
  static constexpr napi_type_tag kTag = {0x6d756c7469736f63, 0x6b2d75762d746d01};
  static Napi::Function Init(Napi::Env env);
  explicit Timer(const Napi::CallbackInfo& info);

 private:
  static void OnTimeout(uv_timer_t* handle);
  static void OnIdle(uv_idle_t* handle);
  static void Fire(UvBox* box);
  void Start(const Napi::CallbackInfo& info);
  void Stop(const Napi::CallbackInfo& info);
};

}  // namespace multisock
