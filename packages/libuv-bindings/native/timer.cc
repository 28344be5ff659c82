#include "timer.h"

#include <memory>

namespace multisock {

Napi::Function Timer::Init(Napi::Env env) {
  return DefineClass(env, {
                              InstanceMethod("start", &Timer::Start),
                              InstanceMethod("stop", &Timer::Stop),
                          });
}

Timer::Timer(const Napi::CallbackInfo& info) : HandleWrap<Timer>(info) {
  SetCallback(info.This().As<Napi::Object>(), ArgFunction(info[0], "Timer: onTimeout"));
  auto* box = new Box();
  // Neither init can fail on a live loop (they only fill in the struct).
  uv_timer_init(addon()->loop(), &box->timer);
  uv_idle_init(addon()->loop(), &box->idle);
  box->has_idle = true;
  Adopt(box);
}

void Timer::Start(const Napi::CallbackInfo& info) {
  CheckOpen(info.Env());
  uint64_t timeout = ArgSafeUint(info[0], "Timer.start: timeoutMs");
  uv::ArmTimer(box_, timeout, Fire);  // one-shot; replaces a pending timeout
  Pin();
}

void Timer::Stop(const Napi::CallbackInfo& info) {
  CheckOpen(info.Env());
  uv::DisarmTimer(box_);
  Unpin();
}

void Timer::Fire(Box* box) {
  Timer* self = static_cast<Timer*>(box->owner);
  if (self == nullptr) return;
  Napi::Env env = self->Env();
  Napi::HandleScope scope(env);
  Napi::Object object = self->Value();  // keeps the object (and so `self`) alive for the call
  self->Unpin();                        // fired, so no longer active; the callback may restart it
  self->CallJs(object, {});
}

}  // namespace multisock
