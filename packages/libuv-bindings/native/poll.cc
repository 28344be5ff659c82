#include "poll.h"

#include <memory>

namespace multisock {

static constexpr int kAllEvents = UV_READABLE | UV_WRITABLE | UV_DISCONNECT | UV_PRIORITIZED;

Napi::Function Poll::Init(Napi::Env env) {
  return DefineClass(env, {
                              InstanceMethod("start", &Poll::Start),
                              InstanceMethod("stop", &Poll::Stop),
                              InstanceAccessor("fd", &Poll::Fd, nullptr),
                          });
}

Poll::Poll(const Napi::CallbackInfo& info) : HandleWrap<Poll>(info) {
  fd_ = ArgInt32(info[0], "Poll: fd", 0, INT32_MAX);
  SetCallback(info.This().As<Napi::Object>(), ArgFunction(info[1], "Poll: onEvent"));
  // Reports a bad fd now rather than at the first start(). Closing this handle right away is
  // harmless: its init succeeding means no watcher of this loop has the fd (see poll.h).
  Box* probe = OpenHandle(info.Env());
  addon()->handles().Track(probe, nullptr);
  uv::Handles::Close(probe);
}

// uv_poll_init: UV_EEXIST when the loop already has an active watcher for fd_, UV_EBADF for a
// closed fd, UV_EPERM for a regular file.
Box* Poll::OpenHandle(Napi::Env env) {
  auto box = std::make_unique<Box>();
  int status = uv_poll_init(addon()->loop(), &box->poll, fd_);
  if (status != 0) throw addon()->UvError(env, status, "uv_poll_init");
  return box.release();
}

void Poll::Start(const Napi::CallbackInfo& info) {
  CheckOpen(info.Env());
  int32_t events = ArgInt32(info[0], "Poll.start: events", 1, kAllEvents);
  if (box_ == nullptr) Adopt(OpenHandle(info.Env()));
  // Starting again replaces the mask. libuv asserts on unknown bits: they never reach it.
  int status = uv_poll_start(&box_->poll, events, OnPoll);
  if (status != 0) {
    if (!uv_is_active(&box_->handle)) Release();
    throw addon()->UvError(info.Env(), status, "uv_poll_start");
  }
  Pin();
}

void Poll::Stop(const Napi::CallbackInfo& info) {
  CheckOpen(info.Env());
  Release();
}

Napi::Value Poll::Fd(const Napi::CallbackInfo& info) {
  CheckReceiver(info);
  return Napi::Number::New(info.Env(), fd_);
}

void Poll::OnPoll(uv_poll_t* handle, int status, int events) {
  Poll* self = static_cast<Poll*>(static_cast<Box*>(handle->data)->owner);
  if (self == nullptr) return;
  Napi::Env env = self->Env();
  Napi::HandleScope scope(env);
  Napi::Object object = self->Value();  // keeps the object (and so `self`) alive for the call
  // On POLLERR libuv has already stopped the handle (src/unix/poll.c): drop it now, while no
  // other watcher can have taken the fd, and report (status, 0).
  if (status < 0) {
    self->Release();
    events = 0;
  }
  self->CallJs(object, {Napi::Number::New(env, status), Napi::Number::New(env, events)});
}

}  // namespace multisock
