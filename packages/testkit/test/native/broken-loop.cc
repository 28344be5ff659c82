// A native loop adapter (multisock/loop.h) for the testkit's own tests, TEST ONLY: one uv_poll
// per socket and one timer on Node's loop, through multisock/uv_handles.h, the design of
// adapter-libuv, with one mistake chosen per attach. With none ("none") it is a correct adapter:
// the control that shows a test fails the mistake, not the harness.
//
// The mistakes the conformance suite must catch (the TypeScript ones of test/support/uv-adapter.ts,
// made natively):
// - ignoreRemove:       REMOVE is ignored; the handle and the registration stay;
// - edgeTriggered:      a socket is reported once, then not again until libcurl announces it again;
// - syncTimerZero:      timer(0) calls api->action from inside the timer function, arms nothing;
// - whatBitsAsEvents:   readiness is reported as the what-bits libcurl asked for.
// The mistakes the scripted driver's rows must catch (test/support/table-rows.ts):
// - noneAsInout:        CURL_POLL_NONE watches both directions;
// - reinitOnChange:     every new mask closes the socket's uv_poll and opens another;
// - errAlone:           a poll error is reported as CURL_CSELECT_ERR without the directions;
// - noErrorRestart:     after a poll error (libuv stops the handle) it stays stopped;
// - timerPerCall:       each timer value arms a timer of its own instead of replacing the last;
// - repeatingTimer:     the timer repeats instead of being consumed when it fires;
// - ignoresTimerDelete: timer(-1) leaves the timer armed;
// - ignoresClosed:      closed(fd) keeps the handle of a TRACKED socket;
// - leaksAtDetach:      detach stops the handles but never closes them.
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

const char* const kBreakageNames[] = {
    "none",           "ignoreRemove",       "edgeTriggered", "syncTimerZero",  "whatBitsAsEvents",
    "noneAsInout",    "reinitOnChange",     "errAlone",      "noErrorRestart", "timerPerCall",
    "repeatingTimer", "ignoresTimerDelete", "ignoresClosed", "leaksAtDetach",
};
constexpr size_t kBreakages = sizeof(kBreakageNames) / sizeof(kBreakageNames[0]);
static_assert(kBreakages == static_cast<size_t>(Breakage::kLeaksAtDetach) + 1,
              "one name per Breakage");

// What the External of one breakage points at (multisock_loop_ref.loop).
struct LoopConfig {
  Handles* handles;
  Breakage breakage;
};

class Attachment;

// One socket libcurl announced, watched (live) or kept stopped after a TRACKED REMOVE.
struct Socket {
  Attachment* owner;
  curl_socket_t fd;
  Box* box;        // the uv_poll; null once closed or torn down
  int what = 0;    // libcurl's last what-bits for it
  int events = 0;  // the mask the handle is started with (0: stopped)
  bool live = false;
};

class Attachment final : public multisock::uv::Owner {
 public:
  Attachment(const LoopConfig& config, multisock_multi* multi, const multisock_core_api* api)
      : handles_(*config.handles), breakage_(config.breakage), multi_(multi), api_(api) {
    timer_ = multisock::uv::NewTimer(handles_, this);
    turn_ = multisock::uv::NewTurnHook(handles_, this, OnTurn);
  }

  ~Attachment() {
    if (Is(Breakage::kLeaksAtDetach) && !gone_) {
      // Stopped, never closed: they stay open on the loop (Handles closes them at teardown).
      for (auto& entry : sockets_) Leak(entry.second->box);
      Leak(timer_);
      Leak(turn_);
      for (Box* extra : extra_timers_) Leak(extra);
      for (auto& entry : sockets_) entry.second->box = nullptr;
    }
    for (auto& entry : sockets_) Discard(entry.second, false);
    sockets_.clear();
    FreeDead();
    if (!gone_ && !Is(Breakage::kLeaksAtDetach)) {
      Handles::Close(timer_);
      Handles::Close(turn_);
      for (Box* extra : extra_timers_) Handles::Close(extra);
    }
  }

  int SocketChanged(curl_socket_t fd, int what, unsigned flags) {
    if (gone_) return 0;
    auto it = sockets_.find(fd);
    Socket* s = it == sockets_.end() ? nullptr : it->second;
    if (what == CURL_POLL_REMOVE) {
      if (Is(Breakage::kIgnoreRemove)) return 0;
      if (s == nullptr || !s->live) return 0;  // never announced: nothing to do
      s->live = false;
      --live_;
      if ((flags & MULTISOCK_SOCKET_TRACKED) != 0) return Watch(s, 0);  // kept until closed
      Discard(s);
      return 0;
    }
    if (s != nullptr && s->live &&
        ((flags & MULTISOCK_SOCKET_FRESH) != 0 || Is(Breakage::kReinitOnChange))) {
      // FRESH: a new socket with the number of one that went without a REMOVE.
      --live_;
      Discard(s);
      s = nullptr;
    }
    if (s == nullptr) {
      s = Open(fd);
      if (s == nullptr) return error_code_;
    }
    if (!s->live) {
      s->live = true;
      ++live_;
    }
    s->what = what;
    int events = 0;
    if ((what & CURL_POLL_IN) != 0) events |= UV_READABLE | UV_DISCONNECT;
    if ((what & CURL_POLL_OUT) != 0) events |= UV_WRITABLE;
    if (what == CURL_POLL_NONE && Is(Breakage::kNoneAsInout)) {
      events = UV_READABLE | UV_DISCONNECT | UV_WRITABLE;
    }
    return Watch(s, events);
  }

  int TimerChanged(long timeout_ms) {
    if (gone_) return 0;
    if (timeout_ms == 0 && Is(Breakage::kSyncTimerZero)) {
      api_->action(multi_, CURL_SOCKET_TIMEOUT, 0);  // refused: CURLM_RECURSIVE_API_CALL
      return 0;
    }
    if (timeout_ms < 0) {
      if (Is(Breakage::kIgnoresTimerDelete)) return 0;
      multisock::uv::DisarmTimer(timer_);
      for (Box* extra : extra_timers_) multisock::uv::DisarmTimer(extra);
      timer_armed_ = false;
      return 0;
    }
    Box* timer = timer_;
    if (Is(Breakage::kTimerPerCall) && timer_armed_) {
      timer = multisock::uv::NewTimer(handles_, this);
      extra_timers_.push_back(timer);
    }
    timeout_ms_ = static_cast<uint64_t>(timeout_ms);
    multisock::uv::ArmTimer(timer, timeout_ms_, OnTimeout);
    timer_armed_ = true;
    return 0;
  }

  void SocketClosed(curl_socket_t fd) {
    if (Is(Breakage::kIgnoresClosed)) return;
    auto it = sockets_.find(fd);
    if (it == sockets_.end()) return;
    if (it->second->live) --live_;
    Discard(it->second);
  }

  void Stats(multisock_loop_stats* out) const {
    out->registrations = live_;
    out->timer_armed = timer_armed_ ? 1 : 0;
  }

  const char* LastError() const { return error_.empty() ? nullptr : error_.c_str(); }

  // Environment teardown closes every handle (uv_handles.h): none may be touched any more.
  void Detach() override {
    gone_ = true;
    for (auto& entry : sockets_) entry.second->box = nullptr;
    timer_ = nullptr;
    turn_ = nullptr;
    extra_timers_.clear();
  }

 private:
  bool Is(Breakage breakage) const { return breakage_ == breakage; }

  static void Leak(Box* box) {
    if (box == nullptr) return;
    box->owner = nullptr;  // no callback reaches the attachment any more
    if (box->handle.type == UV_POLL) uv_poll_stop(&box->poll);
    if (box->handle.type == UV_TIMER) multisock::uv::DisarmTimer(box);
    if (box->handle.type == UV_CHECK) uv_check_stop(&box->check);
  }

  Socket* Open(curl_socket_t fd) {
    Box* box = new Box();
    int status = uv_poll_init(handles_.loop(), &box->poll, fd);
    if (status != 0) {
      delete box;  // never initialised
      Fail(status, "uv_poll_init", fd);
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
      if (status != 0) return Fail(status, "uv_poll_start", s->fd);
    }
    s->events = events;
    return 0;
  }

  int Fail(int status, const char* call, curl_socket_t fd) {
    error_ = std::string(call) + " on fd " + std::to_string(fd) + ": " + uv_strerror(status);
    error_code_ = status;
    return status;
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
    if (status < 0 && self->Is(Breakage::kErrAlone)) bits = CURL_CSELECT_ERR;
    if (self->Is(Breakage::kWhatBitsAsEvents)) bits = s->what;
    if (status < 0 || self->Is(Breakage::kEdgeTriggered)) {
      // libuv stopped the handle on the error; the edge-triggered mistake stops it by itself.
      if (status >= 0) uv_poll_stop(handle);
      s->events = 0;
    }
    self->api_->action(self->multi_, s->fd, bits);
    // The action may have REMOVEd or replaced the socket (s stays allocated until the turn ends).
    if (status < 0 && s->live && s->events == 0 && !self->Is(Breakage::kNoErrorRestart)) {
      self->Watch(s, watched);
    }
  }

  static void OnTimeout(Box* box) {
    if (box->owner == nullptr) return;
    auto* self = static_cast<Attachment*>(box->owner);
    if (self->Is(Breakage::kRepeatingTimer)) {
      multisock::uv::ArmTimer(box, self->timeout_ms_, OnTimeout);  // not consumed
    } else {
      self->timer_armed_ = false;
    }
    self->api_->action(self->multi_, CURL_SOCKET_TIMEOUT, 0);
    self->api_->flush(self->multi_);  // last, as in OnTurn
  }

  static void OnTurn(Box* box) {
    if (box->owner == nullptr) return;
    auto* self = static_cast<Attachment*>(box->owner);
    self->FreeDead();
    // Last: the JS it runs may detach the multi, which deletes this attachment.
    self->api_->flush(self->multi_);
  }

  Handles& handles_;
  const Breakage breakage_;
  multisock_multi* multi_;
  const multisock_core_api* api_;
  Box* timer_;
  Box* turn_;
  std::vector<Box*> extra_timers_;  // timerPerCall only
  uint64_t timeout_ms_ = 0;
  std::unordered_map<curl_socket_t, Socket*> sockets_;
  std::vector<Socket*> dead_;
  int live_ = 0;
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
