// @multisock/adapter-libuv's native loop (multisock/loop.h): one uv_poll per socket libcurl
// announces, one timer, on Node's own loop, all through multisock/uv_handles.h.
//
// - IN / OUT / INOUT: uv_poll_start with READABLE|DISCONNECT / WRITABLE / both; a new mask for
//   the same socket restarts the same handle (no second uv_poll_init).
// - REMOVE: uv_poll_stop. A socket libcurl will report closing (MULTISOCK_SOCKET_TRACKED) keeps
//   its stopped handle for the next announcement, as libcurl REMOVEs a keep-alive connection at
//   the end of every transfer and announces it again at the next: uv_poll_init costs three
//   syscalls. Any other socket's handle is closed at once: libuv 1.46 drops an fd number from
//   its epoll set when any handle for it stops or closes, so a handle kept for a number that is
//   closed behind our back would one day cancel whoever watches the number next.
// - Readiness: READABLE and DISCONNECT -> CURL_CSELECT_IN, WRITABLE -> _OUT; a poll error
//   (libuv stops the handle and reports UV_EBADF without the events) -> _ERR with the watched
//   directions, and the handle is started again while libcurl still wants the socket.
// - The timer: multisock::uv::ArmTimer (0 fires on the next loop turn, after its I/O).
// - api->flush once per loop turn (a uv_check, after the poll phase, for the sockets' actions)
//   and after each timer's action (timers run before the poll phase, which may block): finished
//   transfers reach JS in one call.
#include <multisock/loop.h>
#include <multisock/uv_handles.h>
#include <napi.h>

#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

using multisock::uv::Box;
using multisock::uv::Handles;

class Attachment;

// One socket libcurl announced, live (watched) or kept stopped after REMOVE.
struct Socket {
  Attachment* owner;
  curl_socket_t fd;
  Box* box;        // its uv_poll; null once closed or torn down
  int events = 0;  // the mask the handle is started with (0: stopped)
  bool live = false;
};

class Attachment final : public multisock::uv::Owner {
 public:
  Attachment(Handles& handles, multisock_multi* multi, const multisock_core_api* api)
      : handles_(handles), multi_(multi), api_(api) {
    timer_ = multisock::uv::NewTimer(handles, this);
    turn_ = multisock::uv::NewTurnHook(handles, this, OnTurn);
  }

  int SocketChanged(curl_socket_t fd, int what, unsigned flags) {
    if (gone_) return 0;
    auto it = sockets_.find(fd);
    Socket* s = it == sockets_.end() ? nullptr : it->second;
    if (what == CURL_POLL_REMOVE) {
      if (s == nullptr || !s->live) return 0;  // REMOVE for a socket never announced: nothing
      s->live = false;
      --live_;
      if ((flags & MULTISOCK_SOCKET_TRACKED) != 0) {
        Watch(s, 0);
      } else {
        Discard(s);
      }
      return 0;
    }
    if (s != nullptr && s->live && (flags & MULTISOCK_SOCKET_FRESH) != 0) {
      // libcurl announces as new a socket we still watch: the old one went without a REMOVE.
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
    int events = 0;
    if ((what & CURL_POLL_IN) != 0) events |= UV_READABLE | UV_DISCONNECT;
    if ((what & CURL_POLL_OUT) != 0) events |= UV_WRITABLE;
    return Watch(s, events);  // CURL_POLL_NONE (never sent in practice): kept, watching nothing
  }

  int TimerChanged(long timeout_ms) {
    if (gone_) return 0;
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
    if (it == sockets_.end()) return;
    if (it->second->live) --live_;
    Discard(it->second);
  }

  void Stats(multisock_loop_stats* out) const {
    out->registrations = live_;
    out->timer_armed = timer_armed_ ? 1 : 0;
  }

  const char* LastError() const { return error_.empty() ? nullptr : error_.c_str(); }

  ~Attachment() {
    for (auto& entry : sockets_) Discard(entry.second, false);
    sockets_.clear();
    FreeDead();
    if (!gone_) {
      Handles::Close(timer_);
      Handles::Close(turn_);
    }
  }

  // Environment teardown closes every handle of this addon (uv_handles.h): none may be touched
  // any more. The core detaches the multi (and deletes this) afterwards.
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
      delete box;  // never initialised: nothing for libuv to close
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

  // Closes the socket's handle and forgets it. The Socket itself is freed at the end of the
  // turn: this may run inside api->action, called from that very socket's poll callback.
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

  int Fail(int status, const char* call, curl_socket_t fd) {
    error_ = std::string(call) + " on fd " + std::to_string(fd) + ": " + uv_strerror(status);
    error_code_ = status;  // libuv's codes are negative errnos on Unix
    return status;
  }

  static void OnPoll(uv_poll_t* handle, int status, int events) {
    Box* box = static_cast<Box*>(handle->data);
    if (box->owner == nullptr) return;
    auto* s = static_cast<Socket*>(box->data);
    if (!s->live) return;
    Attachment* self = s->owner;
    const curl_socket_t fd = s->fd;
    int ready = status < 0 ? s->events : events;
    int bits = status < 0 ? CURL_CSELECT_ERR : 0;
    if ((ready & (UV_READABLE | UV_DISCONNECT)) != 0) bits |= CURL_CSELECT_IN;
    if ((ready & UV_WRITABLE) != 0) bits |= CURL_CSELECT_OUT;
    if (status < 0) s->events = 0;  // libuv stopped the handle
    self->api_->action(self->multi_, fd, bits);
    // The action may have REMOVEd, closed or re-announced the socket: look again.
    if (status < 0) {
      auto it = self->sockets_.find(fd);
      if (it != self->sockets_.end() && it->second == s && s->live && s->events == 0) {
        int wanted = (ready & (UV_READABLE | UV_DISCONNECT | UV_WRITABLE));
        self->Watch(s, wanted);
      }
    }
  }

  static void OnTimeout(Box* box) {
    if (box->owner == nullptr) return;
    auto* self = static_cast<Attachment*>(box->owner);
    self->timer_armed_ = false;  // fired, so consumed: libcurl arms it again if it needs to
    self->api_->action(self->multi_, CURL_SOCKET_TIMEOUT, 0);
    // The timer runs before the loop's poll phase, and the turn's uv_check only after it: what
    // finished here (and what JS callbacks queued) must not wait for the loop to block. Last:
    // the JS it runs may detach the multi, which deletes this attachment.
    self->api_->flush(self->multi_);
  }

  static void OnTurn(Box* box) {
    if (box->owner == nullptr) return;
    auto* self = static_cast<Attachment*>(box->owner);
    self->FreeDead();
    // Last: the JS it runs may detach the multi, which deletes this attachment.
    self->api_->flush(self->multi_);
  }

  Handles& handles_;
  multisock_multi* multi_;
  const multisock_core_api* api_;
  Box* timer_;
  Box* turn_;
  std::unordered_map<curl_socket_t, Socket*> sockets_;
  std::vector<Socket*> dead_;
  int live_ = 0;
  bool timer_armed_ = false;
  bool gone_ = false;
  std::string error_;
  int error_code_ = 0;
};

// --- the table ---------------------------------------------------------------------------------

void* Attach(void* loop, multisock_multi* multi, const multisock_core_api* api, int* error) {
  auto* handles = static_cast<Handles*>(loop);
  if (handles->loop() == nullptr) {
    *error = -EINVAL;
    return nullptr;
  }
  return new Attachment(*handles, multi, api);
}

int OnSocket(void* state, curl_socket_t fd, int what, unsigned flags) {
  return static_cast<Attachment*>(state)->SocketChanged(fd, what, flags);
}

int Timer(void* state, long timeout_ms) {
  return static_cast<Attachment*>(state)->TimerChanged(timeout_ms);
}

void Closed(void* state, curl_socket_t fd) {
  static_cast<Attachment*>(state)->SocketClosed(fd);
}

void Stats(void* state, multisock_loop_stats* out) {
  static_cast<Attachment*>(state)->Stats(out);
}

const char* LastError(void* state) {
  return static_cast<Attachment*>(state)->LastError();
}

void Detach(void* state) {
  delete static_cast<Attachment*>(state);
}

const multisock_loop kTable = {
    MULTISOCK_LOOP_VERSION, "libuv", Attach, OnSocket, Timer, Closed, Stats, LastError, Detach,
};

// Per Node environment: the handles, and the External JS hands to Multi.attachNativeLoop.
struct Instance {
  explicit Instance(napi_env env) : handles(env), ref{&kTable, &handles} {}
  Handles handles;
  multisock_loop_ref ref;
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* instance = new Instance(env);
  env.SetInstanceData(instance);
  auto loop = Napi::External<multisock_loop_ref>::New(env, &instance->ref);
  const napi_type_tag tag = {MULTISOCK_LOOP_TAG_LOWER, MULTISOCK_LOOP_TAG_UPPER};
  loop.TypeTag(&tag);
  exports.Set("loop", loop);
  return exports;
}

}  // namespace

NODE_API_MODULE(multisock_libuv, Init)
