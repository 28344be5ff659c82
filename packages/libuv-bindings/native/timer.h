// Timer: a one-shot timeout on Node's loop.
//
// uv::ArmTimer (multisock/uv_handles.h): a timeout of 0 runs from a uv_idle_t, on the next loop
// turn, after its I/O.
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
  static void Fire(Box* box);
  void Start(const Napi::CallbackInfo& info);
  void Stop(const Napi::CallbackInfo& info);
};

}  // namespace multisock
