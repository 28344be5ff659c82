// A native loop adapter (multisock/loop.h) for the conformance suite's own tests, TEST ONLY: one
// uv_poll per socket and one timer on Node's loop, through multisock/uv_handles.h, with one
// mistake chosen per attach. With none it is a correct adapter (the control that shows the suite
// fails the mistakes, not the harness); the mistakes are the TypeScript ones of
// test/support/uv-adapter.ts, made natively:
// - ignoreRemove:     REMOVE is ignored; the handle and the registration stay;
// - edgeTriggered:    a socket is reported once, then not again until libcurl announces it again;
// - syncTimerZero:    timer(0) calls api->action from inside the timer function, and arms nothing;
// - whatBitsAsEvents: readiness is reported as the what-bits libcurl asked for.
#include "broken-loop.h"

#include <multisock/uv_handles.h>

#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

namespace testkit {
namespace {

using multisock::uv::Box;
using multisock::uv::Handles;

// What the External of one breakage points at (multisock_loop_ref.loop).
struct LoopConfig {
  Handles* handles;
  Breakage breakage;
};

class Attachment;

struct Socket {
  Attachment* owner;
  curl_socket_t fd;
  Box* box;        // the uv_poll; null once closed or torn down
  int what = 0;    // libcurl's last what-bits for it
  int events = 0;  // the mask the handle is started with (0: stopped)
  bool live = true;
};

class Attachment final : public multisock::uv::Owner {
 public:
  Attachment(const LoopConfig& config, multisock_multi* multi, const multisock_core_api* api)
      : handles_(*config.handles), breakage_(config.breakage), multi_(multi), api_(api) {
    timer_ = multisock::uv::NewTimer(handles_, this);
    turn_ = multisock::uv::NewTurnHook(handles_, this, OnTurn);
  }

  ~Attachment() {
    for (auto& entry : sockets_) Discard(entry.second, false);
    sockets_.clear();
    FreeDead();
    if (!gone_) {
      Handles::Close(timer_);
      Handles::Close(turn_);
    }
  }

  int SocketChanged(curl_socket_t fd, int what, unsigned flags) {
    if (gone_) return 0;
    auto it = sockets_.find(fd);
    Socket* s = it == sockets_.end() ? nullptr : it->second;
    if (what == CURL_POLL_REMOVE) {
      if (breakage_ == Breakage::kIgnoreRemove) return 0;
      if (s != nullptr) Discard(s);
      return 0;
    }
    if (s != nullptr && (flags & MULTISOCK_SOCKET_FRESH) != 0) {
      Discard(s);  // a new socket with the number of one that went without a REMOVE
      s = nullptr;
    }
    if (s == nullptr) {
      s = Open(fd);
      if (s == nullptr) return error_code_;
    }
    s->what = what;
    int events = 0;
    if ((what & CURL_POLL_IN) != 0) events |= UV_READABLE | UV_DISCONNECT;
    if ((what & CURL_POLL_OUT) != 0) events |= UV_WRITABLE;
    return Watch(s, events);
  }

  int TimerChanged(long timeout_ms) {
    if (gone_) return 0;
    if (timeout_ms == 0 && breakage_ == Breakage::kSyncTimerZero) {
      api_->action(multi_, CURL_SOCKET_TIMEOUT, 0);  // refused: CURLM_RECURSIVE_API_CALL
      return 0;
    }
    if (timeout_ms < 0) {
      multisock::uv::DisarmTimer(timer_);
      timer_armed_ = false;
    } else {
      multisock::uv::ArmTimer(timer_, static_cast<uint64_t>(timeout_ms), OnTimeout);
      timer_armed_ = true;
    }
    return 0;
  }

  void SocketClosed(curl_socket_t fd) {
    auto it = sockets_.find(fd);
    if (it != sockets_.end()) Discard(it->second);
  }

  void Stats(multisock_loop_stats* out) const {
    out->registrations = static_cast<int32_t>(sockets_.size());
    out->timer_armed = timer_armed_ ? 1 : 0;
  }

  const char* LastError() const { return error_.empty() ? nullptr : error_.c_str(); }

  // Environment teardown closes every handle (uv_handles.h): none may be touched any more.
  void Detach() override {
    gone_ = true;
    for (auto& entry : sockets_) entry.second->box = nullptr;
    timer_ = nullptr;
    turn_ = nullptr;
  }

 private:
  Socket* Open(curl_socket_t fd) {
    Box* box = new Box();
    int status = uv_poll_init(handles_.loop(), &box->poll, fd);
    if (status != 0) {
      delete box;  // never initialised
      error_ = "uv_poll_init on fd " + std::to_string(fd) + ": " + uv_strerror(status);
      error_code_ = status;
      return nullptr;
    }
    handles_.Track(box, this);
    auto* s = new Socket{this, fd, box};
    box->data = s;
    sockets_[fd] = s;
    return s;
  }

  int Watch(Socket* s, int events) {
    if (s->box == nullptr || events == s->events) return 0;
    if (events == 0) {
      uv_poll_stop(&s->box->poll);
    } else {
      int status = uv_poll_start(&s->box->poll, events, OnPoll);
      if (status != 0) {
        error_ = "uv_poll_start on fd " + std::to_string(s->fd) + ": " + uv_strerror(status);
        error_code_ = status;
        return status;
      }
    }
    s->events = events;
    return 0;
  }

  // Freed at the end of the turn: this may run inside that very socket's poll callback.
  void Discard(Socket* s, bool erase = true) {
    if (s->box != nullptr) Handles::Close(s->box);
    s->box = nullptr;
    s->live = false;
    if (erase) sockets_.erase(s->fd);
    dead_.push_back(s);
  }

  void FreeDead() {
    for (Socket* s : dead_) delete s;
    dead_.clear();
  }

  static void OnPoll(uv_poll_t* handle, int status, int events) {
    Box* box = static_cast<Box*>(handle->data);
    if (box->owner == nullptr) return;
    auto* s = static_cast<Socket*>(box->data);
    if (!s->live) return;
    Attachment* self = s->owner;
    const int watched = s->events;
    int ready = status < 0 ? watched : events;
    int bits = status < 0 ? CURL_CSELECT_ERR : 0;
    if ((ready & (UV_READABLE | UV_DISCONNECT)) != 0) bits |= CURL_CSELECT_IN;
    if ((ready & UV_WRITABLE) != 0) bits |= CURL_CSELECT_OUT;
    if (self->breakage_ == Breakage::kWhatBitsAsEvents) bits = s->what;
    if (status < 0 || self->breakage_ == Breakage::kEdgeTriggered) {
      // libuv stopped the handle on the error; the edge-triggered mistake stops it by itself.
      if (status >= 0) uv_poll_stop(handle);
      s->events = 0;
    }
    self->api_->action(self->multi_, s->fd, bits);
    // The action may have REMOVEd or replaced the socket (s stays allocated until the turn ends).
    if (status < 0 && s->live && s->events == 0) self->Watch(s, watched);
  }

  static void OnTimeout(Box* box) {
    if (box->owner == nullptr) return;
    auto* self = static_cast<Attachment*>(box->owner);
    self->timer_armed_ = false;
    self->api_->action(self->multi_, CURL_SOCKET_TIMEOUT, 0);
    self->api_->flush(self->multi_);
  }

  static void OnTurn(Box* box) {
    if (box->owner == nullptr) return;
    auto* self = static_cast<Attachment*>(box->owner);
    self->api_->flush(self->multi_);
    self->FreeDead();
  }

  Handles& handles_;
  const Breakage breakage_;
  multisock_multi* multi_;
  const multisock_core_api* api_;
  Box* timer_;
  Box* turn_;
  std::unordered_map<curl_socket_t, Socket*> sockets_;
  std::vector<Socket*> dead_;
  bool timer_armed_ = false;
  bool gone_ = false;
  std::string error_;
  int error_code_ = 0;
};

void* Attach(void* loop, multisock_multi* multi, const multisock_core_api* api, int* error) {
  const auto* config = static_cast<const LoopConfig*>(loop);
  if (config->handles->loop() == nullptr) {
    *error = -EINVAL;
    return nullptr;
  }
  return new Attachment(*config, multi, api);
}

int OnSocket(void* state, curl_socket_t fd, int what, unsigned flags) {
  return static_cast<Attachment*>(state)->SocketChanged(fd, what, flags);
}

int OnTimer(void* state, long timeout_ms) {
  return static_cast<Attachment*>(state)->TimerChanged(timeout_ms);
}

void OnClosed(void* state, curl_socket_t fd) {
  static_cast<Attachment*>(state)->SocketClosed(fd);
}

void OnStats(void* state, multisock_loop_stats* out) {
  static_cast<Attachment*>(state)->Stats(out);
}

const char* OnLastError(void* state) {
  return static_cast<Attachment*>(state)->LastError();
}

void OnDetach(void* state) {
  delete static_cast<Attachment*>(state);
}

const multisock_loop kTable = {
    MULTISOCK_LOOP_VERSION,
    "testkit-uv",
    Attach,
    OnSocket,
    OnTimer,
    OnClosed,
    OnStats,
    OnLastError,
    OnDetach,
};

const char* const kBreakageNames[] = {"none", "ignoreRemove", "edgeTriggered", "syncTimerZero",
                                      "whatBitsAsEvents"};
constexpr size_t kBreakages = sizeof(kBreakageNames) / sizeof(kBreakageNames[0]);

// Per Node environment: the handles, one config and one External per breakage.
struct Instance {
  explicit Instance(napi_env env) : handles(env) {
    for (size_t i = 0; i < kBreakages; i++) {
      configs[i] = {&handles, static_cast<Breakage>(i)};
      refs[i] = {&kTable, &configs[i]};
    }
  }
  Handles handles;
  LoopConfig configs[kBreakages];
  multisock_loop_ref refs[kBreakages];
  Napi::Reference<Napi::External<multisock_loop_ref>> externals[kBreakages];
};

// brokenLoop(breakage): the External of the adapter with that mistake ('none': without one).
Napi::Value BrokenLoop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* instance = static_cast<Instance*>(info.Data());
  if (!info[0].IsString()) {
    throw Napi::TypeError::New(env, "brokenLoop: expected the name of a breakage");
  }
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  for (size_t i = 0; i < kBreakages; i++) {
    if (name == kBreakageNames[i]) return instance->externals[i].Value();
  }
  throw Napi::RangeError::New(env, "brokenLoop: unknown breakage '" + name + "'");
}

}  // namespace

void InitBrokenLoop(Napi::Env env, Napi::Object exports) {
  // Lives as long as the environment (the addon's instance data, as in adapter-libuv): multis
  // attached through its Externals may outlive every JS reference to this module.
  auto* instance = new Instance(env);
  env.SetInstanceData(instance);
  const napi_type_tag tag = {MULTISOCK_LOOP_TAG_LOWER, MULTISOCK_LOOP_TAG_UPPER};
  for (size_t i = 0; i < kBreakages; i++) {
    auto external = Napi::External<multisock_loop_ref>::New(env, &instance->refs[i]);
    external.TypeTag(&tag);
    instance->externals[i] = Napi::Persistent(external);
  }
  exports.Set("brokenLoop", Napi::Function::New(env, BrokenLoop, "brokenLoop", instance));
}

}  // namespace testkit
