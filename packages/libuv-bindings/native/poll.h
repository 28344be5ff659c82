// Poll: watches an fd the caller owns with a uv_poll_t on Node's loop.
//
// The uv_poll_t exists only while the Poll is started: stop() closes it and start() opens a
// new one. libuv's stop and close of a poll handle always EPOLL_CTL_DEL its fd number
// (uv__platform_invalidate_fd), even when that handle is not the one watching it; an idle
// handle kept around would therefore, when stopped, closed or collected, silently cancel
// whoever watches that fd number by then (another Poll, or Node itself after the fd was
// closed and reused). Restarting a started Poll just changes its mask (uv_poll_start again).
#pragma once

#include "handle_wrap.h"

namespace multisock {

class Poll : public HandleWrap<Poll> {
 public:
  static constexpr const char* kName = "Poll";
  static constexpr napi_type_tag kTag = {0x6d756c7469736f63, 0x6b2d75762d706f01};
  static Napi::Function Init(Napi::Env env);
  explicit Poll(const Napi::CallbackInfo& info);

 private:
  static void OnPoll(uv_poll_t* handle, int status, int events);
  // A Box with an initialised uv_poll_t for fd_, not yet tracked.
  Box* OpenHandle(Napi::Env env);
  void Start(const Napi::CallbackInfo& info);
  void Stop(const Napi::CallbackInfo& info);
  Napi::Value Fd(const Napi::CallbackInfo& info);

  int32_t fd_;
};

}  // namespace multisock
