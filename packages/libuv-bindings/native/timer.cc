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
  auto box = std::make_unique<UvBox>();
  // Neither init can fail on a live loop (they only fill in the struct).
  uv_timer_init(addon()->loop(), &box->timer);
  uv_idle_init(addon()->loop(), &box->idle);
  box->has_idle = true;
  addon()->Track(box.get());
  Adopt(box.release());
}

void Timer::Start(const Napi::CallbackInfo& info) {
  CheckOpen(info.Env());
  uint64_t timeout = ArgSafeUint(info[0], "Timer.start: timeoutMs");
  // One-shot; a new start replaces a pending one.
  uv_timer_stop(&box_->timer);
  uv_idle_stop(&box_->idle);
  if (timeout == 0) {
    uv_idle_start(&box_->idle, OnIdle);
  } else {
    uv_timer_start(&box_->timer, OnTimeout, timeout, 0);
  }
  Pin();
}

void Timer::Stop(const Napi::CallbackInfo& info) {
  CheckOpen(info.Env());
  uv_timer_stop(&box_->timer);
  uv_idle_stop(&box_->idle);
  Unpin();
}

void Timer::OnTimeout(uv_timer_t* handle) {
  Fire(static_cast<UvBox*>(handle->data));
}

void Timer::OnIdle(uv_idle_t* handle) {
  uv_idle_stop(handle);
  Fire(static_cast<UvBox*>(handle->data));
}

void Timer::Fire(UvBox* box) {
  Timer* self = static_cast<Timer*>(box->owner);
  if (self == nullptr) return;
  Napi::Env env = self->Env();
  Napi::HandleScope scope(env);
  Napi::Object object = self->Value();  // keeps the object (and so `self`) alive for the call
  self->Unpin();                        // fired, so no longer active; the callback may restart it
  self->CallJs(object, {});
}

}  // namespace multisock
