// multisock/poller_loop.h: the native loop shared by the epoll and kqueue adapters, generic
// over a small kernel poller backend (c-ares' event backends are the model).
//
// A backend is one private kernel set (an epoll fd, a kqueue) and four calls:
//
//   struct Backend {
//     static constexpr const char* kName;         // "epoll": the nested table's name
//     static constexpr const char* kReactorName;  // "EpollReactor": the reactor's table name
//     static constexpr const char* kCreate;       // "epoll_create1": what Open() calls
//     static constexpr const char* kWait;         // "epoll_wait": what Wait() calls
//     int Open();                // makes the set: 0 or -errno
//     int fd() const;            // the set's fd, readable while events are pending; -1 closed
//     void Close();              // idempotent
//     // Brings the kernel in line with `what` (CURL_POLL_NONE/IN/OUT/INOUT) for reg.fd, using
//     // and updating reg.kernel (the backend's record of what the kernel holds). `fresh`: what
//     // the kernel holds is unknown (the fd may have been closed and reused), submit every
//     // wanted filter again. May renew reg.tag through `tags` when it registers anew. On failure
//     // returns -errno and sets *error to "syscall: detail".
//     int Set(Registration& reg, int what, bool fresh, Tags& tags, std::string* error);
//     // Drops reg.fd from the kernel; "already gone" (ENOENT, EBADF) is done.
//     int Unset(Registration& reg, std::string* error);
//     // Waits up to timeout_ms (-1: no limit) for at most max_events kernel events and puts
//     // the batch in `out` (replacing what it held): count, 0 on EINTR, or -errno.
//     int Wait(int timeout_ms, int max_events, std::vector<Event>& out);
//   };
//
// Everything else is here once: the fd -> registration table with a generation tag per
// registration, the per-multi table state (multisock/loop.h), and the two ways to run a set:
// - Nested<B>: one set per attached multi inside Node's loop, through multisock/uv_handles.h:
//   ONE uv_poll on the set's fd, one timer, one turn hook;
// - Reactor<B>: a loop the application runs (runOnce/run), several multis per set, their
//   deadlines folded into the wait timeout (no timer fd, no syscall when libcurl moves a timer).
//
// Rules kept (multisock/loop.h): `what` is the whole interest set; REMOVE is not close; level-
// triggered only; never act from inside a table function; CSELECT bits, never POLL bits; ERR
// comes with the watched directions; nothing stays registered after detach.
#pragma once

#include <errno.h>
#include <multisock/loop.h>
#include <multisock/uv_handles.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

// Once worker.terminate() is under way a throw fails; node-addon-api would then throw a C++
// exception out of a callback and std::terminate the process.
#ifndef NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS
#define NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS
#endif
#include <napi.h>

namespace multisock {
namespace poller {

// Readiness of one kernel event, as a backend decodes it (docs/contract.md#mapping, readiness row).
enum Readiness : unsigned {
  kReadable = 1,  // EPOLLIN, EVFILT_READ
  kWritable = 2,  // EPOLLOUT, EVFILT_WRITE
  kHangup = 4,    // EPOLLHUP/EPOLLRDHUP, EV_EOF: libcurl reads the end (IN)
  kError = 8,     // EPOLLERR, EV_ERROR: ERR plus the watched directions
};

// One kernel event of a batch: `tag` is the generation the registration had when the kernel
// was told about it.
struct Event {
  int fd;
  uint32_t tag;
  unsigned readiness;
};

class Tags {
 public:
  uint32_t Next() {
    if (++last_ == 0) last_ = 1;  // 0 is never a live tag
    return last_;
  }

 private:
  uint32_t last_ = 0;
};

struct Attachment;

// One fd libcurl watches, with the generation the kernel carries back in each event.
struct Registration {
  int fd = -1;
  int what = CURL_POLL_NONE;
  uint32_t tag = 0;
  unsigned kernel = 0;  // the backend's own record (epoll: in the set; kqueue: filters)
  Attachment* owner = nullptr;
  uint64_t batch = 0;  // the batch this fd last appeared in, and where: READ and WRITE
  size_t slot = 0;     // kevents of one fd become one action
};

// CSELECT bits for a batch's readiness, against the interest libcurl has NOW (it may have
// changed earlier in the batch). Never POLL bits: CURL_POLL_REMOVE == CURL_CSELECT_ERR.
inline int CselectFor(unsigned readiness, int what) {
  int bits = 0;
  if ((readiness & kReadable) != 0 && (what & CURL_POLL_IN) != 0) bits |= CURL_CSELECT_IN;
  if ((readiness & kWritable) != 0 && (what & CURL_POLL_OUT) != 0) bits |= CURL_CSELECT_OUT;
  if ((readiness & kHangup) != 0) bits |= CURL_CSELECT_IN;
  if ((readiness & kError) != 0) {
    // libcurl 7.88.1 fails a transfer on ERR alone without reading what is still buffered.
    bits |= CURL_CSELECT_ERR;
    if ((what & CURL_POLL_IN) != 0) bits |= CURL_CSELECT_IN;
    if ((what & CURL_POLL_OUT) != 0) bits |= CURL_CSELECT_OUT;
  }
  return bits;
}

inline int64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

inline std::string FdDetail(const char* call, const char* what, int fd) {
  return std::string(call) + ": " + what + " fd " + std::to_string(fd);
}

class Host;

// What the core knows as the adapter's state for one multi (multisock/loop.h `state`).
struct Attachment {
  Host* host;
  multisock_multi* multi;
  const multisock_core_api* api;
  int32_t registrations = 0;
  bool timer_armed = false;
  int64_t deadline_ns = 0;  // reactor mode: when the armed timer expires
  bool dead = false;        // detached; freed once no loop code is on the stack
  std::string last_error;
};

// The mode an attachment runs in: how its timer is kept and what happens around changes.
class Host {
 public:
  virtual int Socket(Attachment* a, curl_socket_t fd, int what, unsigned flags) = 0;
  virtual int Timer(Attachment* a, long timeout_ms) = 0;
  virtual void Closed(Attachment* a, curl_socket_t fd) = 0;
  virtual void Detach(Attachment* a) = 0;

 protected:
  ~Host() = default;
};

// The kernel set and its fd -> registration table. fd numbers are unique in the process, so one
// table serves every multi attached to the set.
template <class B>
class Set {
 public:
  Set() = default;
  Set(const Set&) = delete;
  Set& operator=(const Set&) = delete;
  ~Set() {
    for (Registration* reg : table_) delete reg;
    for (Registration* reg : spare_) delete reg;
    backend_.Close();
  }

  int Open(int max_events) {
    max_events_ = max_events;
    return backend_.Open();
  }
  int fd() const { return backend_.fd(); }
  bool open() const { return backend_.fd() >= 0; }
  int32_t size() const { return live_; }
  B& backend() { return backend_; }

  // Closes the kernel set: every registration it holds goes with it. The table is emptied
  // (owners' counts too), so nothing is ever dispatched again.
  void Close() {
    for (Registration* reg : table_) {
      if (reg == nullptr) continue;
      Forget(reg);
      spare_.push_back(reg);
    }
    backend_.Close();
  }

  Registration* Find(int fd) const {
    return fd >= 0 && static_cast<size_t>(fd) < table_.size() ? table_[static_cast<size_t>(fd)]
                                                              : nullptr;
  }

  // libcurl's socket callback for `a` (multisock/loop.h `socket`). Returns 0 or -errno (with
  // a->last_error set).
  int Socket(Attachment* a, curl_socket_t fd, int what, unsigned flags) {
    if (fd < 0) return 0;  // never sent; nothing to watch
    Registration* reg = Find(fd);
    if (what == CURL_POLL_REMOVE) {
      // Stop watching now: the same number may come back at once. For an fd never registered
      // (or another multi's) this is a no-op (docs/contract.md#conformance row 3).
      if (reg == nullptr || reg->owner != a) return 0;
      return Drop(reg, &a->last_error);
    }
    if (what < CURL_POLL_NONE || what > CURL_POLL_INOUT) {
      a->last_error = "socket callback: what=" + std::to_string(what) + " on fd " +
                      std::to_string(fd) + " is not a CURL_POLL_* value";
      return -EINVAL;
    }
    if (reg != nullptr && reg->owner != a) {
      // Another multi of this set still lists the number: its socket was closed without a
      // REMOVE and the number reused. Its registration is stale.
      std::string ignored;
      Drop(reg, &ignored);
      reg = nullptr;
    }
    if (reg == nullptr) return Add(a, fd, what);
    const bool fresh = (flags & MULTISOCK_SOCKET_FRESH) != 0;
    if (!fresh && what == reg->what) return 0;
    // A fresh announcement of a listed fd: the socket we registered is gone (libcurl forgot
    // it without a REMOVE); a new tag so no event fetched for the old one reaches the new.
    if (fresh) reg->tag = tags_.Next();
    int rc = backend_.Set(*reg, what, fresh, tags_, &a->last_error);
    if (rc < 0) {
      // Leave nothing half-registered: the core fails the transfers; a later REMOVE is a no-op.
      std::string ignored;
      Drop(reg, &ignored);
      return rc;
    }
    reg->what = what;
    return 0;
  }

  // libcurl is about to close `fd`: nothing of it may stay listed, the number can be reused.
  void Closed(Attachment* a, curl_socket_t fd) {
    Registration* reg = Find(fd);
    if (reg == nullptr || reg->owner != a) return;
    std::string ignored;
    Drop(reg, &ignored);
  }

  // Drops every registration of `a` (detach, or its multi closed).
  void DropAll(Attachment* a) {
    if (a->registrations == 0) return;
    std::string ignored;
    for (size_t fd = 0; fd < table_.size(); fd++) {
      Registration* reg = table_[fd];
      if (reg != nullptr && reg->owner == a) Drop(reg, &ignored);
    }
  }

  // One wait, then one api->action per ready registration, in order. Returns the number of
  // actions, or -errno of the wait.
  int Dispatch(int timeout_ms) {
    int n = backend_.Wait(timeout_ms, max_events_, batch_);
    if (n <= 0) return n;
    // Coalesce per fd (kqueue: READ and WRITE come as two kevents, docs/contract.md#conformance row
    // 9).
    ++batch_seq_;
    ready_.clear();
    for (const Event& event : batch_) {
      Registration* reg = Find(event.fd);
      if (reg == nullptr || reg->tag != event.tag) continue;  // from a registration now gone
      if (reg->batch == batch_seq_) {
        ready_[reg->slot].readiness |= event.readiness;
      } else {
        reg->batch = batch_seq_;
        reg->slot = ready_.size();
        ready_.push_back(event);
      }
    }
    int actions = 0;
    for (size_t i = 0; i < ready_.size(); i++) {
      const Event event = ready_[i];
      // Looked up again: an earlier action of this batch may have REMOVEd the fd, or REMOVEd
      // and re-announced it under a new tag (docs/contract.md#conformance row 5,
      // docs/contract.md#fd-reuse).
      Registration* reg = Find(event.fd);
      if (reg == nullptr || reg->tag != event.tag) continue;
      int bits = CselectFor(event.readiness, reg->what);
      if (bits == 0) continue;
      Attachment* a = reg->owner;
      if (a->dead) continue;
      actions++;
      a->api->action(a->multi, event.fd, bits);
    }
    return actions;
  }

 private:
  int Add(Attachment* a, int fd, int what) {
    Registration* reg = Take();
    reg->fd = fd;
    reg->what = what;
    reg->tag = tags_.Next();
    reg->kernel = 0;
    reg->owner = a;
    reg->batch = 0;
    // Not fresh: every registration leaves the kernel when it is dropped, so the kernel holds
    // nothing for an fd the table does not list (epoll still copes with EEXIST).
    int rc = backend_.Set(*reg, what, false, tags_, &a->last_error);
    if (rc < 0) {
      std::string ignored;
      backend_.Unset(*reg, &ignored);  // whatever part did get registered
      spare_.push_back(reg);
      return rc;
    }
    if (static_cast<size_t>(fd) >= table_.size()) table_.resize(static_cast<size_t>(fd) + 1);
    table_[static_cast<size_t>(fd)] = reg;
    a->registrations++;
    live_++;
    return 0;
  }

  // Unlists first (so nothing more is dispatched for it), then unregisters.
  int Drop(Registration* reg, std::string* error) {
    Forget(reg);
    int rc = open() ? backend_.Unset(*reg, error) : 0;
    spare_.push_back(reg);
    return rc;
  }

  void Forget(Registration* reg) {
    table_[static_cast<size_t>(reg->fd)] = nullptr;
    reg->owner->registrations--;
    live_--;
  }

  // Registrations are reused: a keep-alive connection is REMOVEd at the end of every transfer
  // and announced again at the next.
  Registration* Take() {
    if (spare_.empty()) return new Registration();
    Registration* reg = spare_.back();
    spare_.pop_back();
    return reg;
  }

  B backend_;
  std::vector<Registration*> table_;  // by fd
  std::vector<Registration*> spare_;
  std::vector<Event> batch_;
  std::vector<Event> ready_;
  uint64_t batch_seq_ = 0;
  Tags tags_;
  int32_t live_ = 0;
  int max_events_ = 256;

 public:
  int max_events() const { return max_events_; }
};

// --- the table (multisock/loop.h) ------------------------------------------------------------

// What `loop` in a multisock_loop_ref points at (as a Factory*, whatever else the object is):
// makes the state for one multi.
class Factory {
 public:
  virtual Attachment* Attach(multisock_multi* multi, const multisock_core_api* api, int* error) = 0;

 protected:
  ~Factory() = default;
};

inline void* TableAttach(void* loop, multisock_multi* multi, const multisock_core_api* api,
                         int* error) {
  return static_cast<Factory*>(loop)->Attach(multi, api, error);
}
inline int TableSocket(void* state, curl_socket_t fd, int what, unsigned flags) {
  auto* a = static_cast<Attachment*>(state);
  return a->dead ? 0 : a->host->Socket(a, fd, what, flags);
}
inline int TableTimer(void* state, long timeout_ms) {
  auto* a = static_cast<Attachment*>(state);
  return a->dead ? 0 : a->host->Timer(a, timeout_ms);
}
inline void TableClosed(void* state, curl_socket_t fd) {
  auto* a = static_cast<Attachment*>(state);
  if (!a->dead) a->host->Closed(a, fd);
}
inline void TableStats(void* state, multisock_loop_stats* out) {
  auto* a = static_cast<Attachment*>(state);
  out->registrations = a->registrations;
  out->timer_armed = a->timer_armed ? 1 : 0;
}
inline const char* TableLastError(void* state) {
  auto* a = static_cast<Attachment*>(state);
  return a->last_error.empty() ? nullptr : a->last_error.c_str();
}
inline void TableDetach(void* state) {
  auto* a = static_cast<Attachment*>(state);
  a->host->Detach(a);
}

template <class B>
struct Tables {
  static constexpr multisock_loop kNested = {
      MULTISOCK_LOOP_VERSION,
      B::kName,
      TableAttach,
      TableSocket,
      TableTimer,
      TableClosed,
      TableStats,
      TableLastError,
      TableDetach,
  };
  static constexpr multisock_loop kReactor = {
      MULTISOCK_LOOP_VERSION,
      B::kReactorName,
      TableAttach,
      TableSocket,
      TableTimer,
      TableClosed,
      TableStats,
      TableLastError,
      TableDetach,
  };
};

// --- mode 1: nested in Node's loop ----------------------------------------------------------

// One multi, its own set, ONE uv_poll on the set's fd, one timer, one turn hook.
template <class B>
class Nested final : public Host, public uv::Owner {
 public:
  static Attachment* Make(uv::Handles& handles, multisock_multi* multi,
                          const multisock_core_api* api, int* error) {
    if (handles.loop() == nullptr) {
      *error = -EINVAL;
      return nullptr;
    }
    auto* self = new Nested(handles, multi, api);
    int rc = self->set_.Open(256);
    if (rc == 0) rc = self->OpenPoll();
    if (rc < 0) {
      *error = rc;
      self->Release();
      return nullptr;
    }
    return &self->attachment_;
  }

  int Socket(Attachment* a, curl_socket_t fd, int what, unsigned flags) override {
    if (gone_) return 0;  // environment teardown: the set is closed, nothing can be watched
    int rc = set_.Socket(a, fd, what, flags);
    Watch();
    return rc;
  }

  int Timer(Attachment*, long timeout_ms) override {
    if (gone_) return 0;
    if (timeout_ms < 0) {
      uv::DisarmTimer(timer_);
      attachment_.timer_armed = false;
    } else {
      uv::ArmTimer(timer_, static_cast<uint64_t>(timeout_ms), OnTimeout);
      attachment_.timer_armed = true;
    }
    return 0;
  }

  void Closed(Attachment* a, curl_socket_t fd) override {
    if (gone_) return;
    set_.Closed(a, fd);
    Watch();
  }

  // The core is done with this multi. Freed at once, or once the callback on the stack
  // (a flush can run JS that closes the multi) has returned.
  void Detach(Attachment*) override {
    attachment_.dead = true;
    attachment_.timer_armed = false;
    Release();
  }

  // Environment teardown closed every handle of this addon: touch none of them again. The
  // set goes too: nothing can dispatch it any more, and a worker must not leave its fd behind.
  void Detach() override {
    if (gone_) return;
    gone_ = true;
    poll_ = timer_ = turn_ = nullptr;
    set_.Close();
  }

 private:
  Nested(uv::Handles& handles, multisock_multi* multi, const multisock_core_api* api)
      : handles_(handles) {
    attachment_.host = this;
    attachment_.multi = multi;
    attachment_.api = api;
    timer_ = uv::NewTimer(handles, this);
    turn_ = uv::NewTurnHook(handles, this, OnTurn);
  }

  int OpenPoll() {
    auto* box = new uv::Box();
    int status = uv_poll_init(handles_.loop(), &box->poll, set_.fd());
    if (status != 0) {
      delete box;  // never initialised: nothing for libuv to close
      return status;
    }
    handles_.Track(box, this);
    box->data = this;
    poll_ = box;
    return 0;
  }

  // The uv_poll is active only while something is registered, so an idle multi does not keep
  // the process alive (as an idle uv_poll per socket would not).
  void Watch() {
    if (gone_ || poll_ == nullptr) return;
    const bool wanted = set_.size() > 0;
    if (wanted && !polling_) {
      // A set's fd is readable while events are pending (epoll(7); kqueue(2), Kqueues).
      if (uv_poll_start(&poll_->poll, UV_READABLE, OnReadable) == 0) polling_ = true;
    } else if (!wanted && polling_) {
      uv_poll_stop(&poll_->poll);
      polling_ = false;
    }
  }

  static Nested* From(uv::Box* box) {
    return box->owner == nullptr ? nullptr : static_cast<Nested*>(box->owner);
  }

  static void OnReadable(uv_poll_t* handle, int status, int) {
    Nested* self = From(static_cast<uv::Box*>(handle->data));
    if (self == nullptr || self->attachment_.dead) return;
    if (status < 0) self->polling_ = false;  // libuv stopped the handle; Watch() restarts it
    self->busy_++;
    // One wait(0) takes the whole batch; the turn hook flushes after the poll phase.
    self->set_.Dispatch(0);
    self->busy_--;
    if (self->Settle()) self->Watch();
  }

  static void OnTimeout(uv::Box* box) {
    Nested* self = From(box);
    if (self == nullptr || self->attachment_.dead) return;
    Attachment& a = self->attachment_;
    a.timer_armed = false;  // fired, so consumed: libcurl arms it again if it needs to
    self->busy_++;
    a.api->action(a.multi, CURL_SOCKET_TIMEOUT, 0);
    // Timers run before the poll phase, and the turn hook only after it: what finished here
    // (and what JS callbacks queued) must not wait for the loop to block.
    if (!a.dead) a.api->flush(a.multi);
    self->busy_--;
    if (self->Settle()) self->Watch();
  }

  static void OnTurn(uv::Box* box) {
    Nested* self = From(box);
    if (self == nullptr || self->attachment_.dead) return;
    self->busy_++;
    self->attachment_.api->flush(self->attachment_.multi);
    self->busy_--;
    self->Settle();
  }

  // After a callback: frees this if it was detached meanwhile. False if it is gone.
  bool Settle() {
    if (busy_ > 0 || !released_) return !attachment_.dead;
    delete this;
    return false;
  }

  void Release() {
    if (!released_) {
      released_ = true;
      set_.DropAll(&attachment_);
      if (!gone_) {
        if (poll_ != nullptr) uv::Handles::Close(poll_);  // stops it before the fd closes
        uv::Handles::Close(timer_);
        uv::Handles::Close(turn_);
        poll_ = timer_ = turn_ = nullptr;
      }
      set_.Close();
    }
    if (busy_ == 0) delete this;
  }

  uv::Handles& handles_;
  Set<B> set_;
  Attachment attachment_{};
  uv::Box* poll_ = nullptr;
  uv::Box* timer_ = nullptr;
  uv::Box* turn_ = nullptr;
  bool polling_ = false;
  bool gone_ = false;
  bool released_ = false;
  int busy_ = 0;
};

// What the nested table's External points at, per Node environment.
template <class B>
class NestedFactory final : public Factory {
 public:
  explicit NestedFactory(napi_env env)
      : handles_(env), ref_{&Tables<B>::kNested, static_cast<Factory*>(this)} {}
  Attachment* Attach(multisock_multi* multi, const multisock_core_api* api, int* error) override {
    return Nested<B>::Make(handles_, multi, api, error);
  }
  multisock_loop_ref* ref() { return &ref_; }

 private:
  uv::Handles handles_;
  multisock_loop_ref ref_;
};

// --- mode 2: a reactor the application runs ---------------------------------------------------

// Several multis on one set. libcurl's timers are deadlines, folded into the wait timeout.
// Reference-counted: the JS object holds one reference and each attachment one, as the core
// may detach a multi after the JS object is gone (environment teardown runs finalizers in any
// order).
template <class B>
class Reactor final : public Host, public Factory {
 public:
  Reactor() : ref_{&Tables<B>::kReactor, static_cast<Factory*>(this)} {}

  int Open(int max_events) { return set_.Open(max_events); }
  multisock_loop_ref* ref() { return &ref_; }
  bool open() const { return set_.open(); }
  bool running() const { return depth_ > 0; }
  int32_t registrations() const { return set_.size(); }
  size_t attached() const { return attachments_.size(); }
  const std::string& last_error() const { return last_error_; }
  void Stop() { stop_ = true; }

  void Ref() { refs_++; }
  void Unref() {
    if (--refs_ == 0) delete this;
  }

  Attachment* Attach(multisock_multi* multi, const multisock_core_api* api, int* error) override {
    if (!set_.open()) {
      *error = -EBADF;  // closed reactor
      return nullptr;
    }
    auto* a = new Attachment();
    a->host = this;
    a->multi = multi;
    a->api = api;
    attachments_.push_back(a);
    Ref();
    return a;
  }

  int Socket(Attachment* a, curl_socket_t fd, int what, unsigned flags) override {
    if (!set_.open()) return 0;
    return set_.Socket(a, fd, what, flags);
  }

  int Timer(Attachment* a, long timeout_ms) override {
    if (timeout_ms < 0) {
      a->timer_armed = false;
    } else {
      // A timer of 0 fires in this or the next runOnce, after the events: never from inside the
      // callback that set it.
      a->deadline_ns = NowNs() + static_cast<int64_t>(timeout_ms) * 1000000;
      a->timer_armed = true;
    }
    return 0;
  }

  void Closed(Attachment* a, curl_socket_t fd) override { set_.Closed(a, fd); }

  void Detach(Attachment* a) override {
    set_.DropAll(a);
    a->dead = true;
    a->timer_armed = false;
    for (size_t i = 0; i < attachments_.size(); i++) {
      if (attachments_[i] == a) {
        attachments_.erase(attachments_.begin() + static_cast<std::ptrdiff_t>(i));
        break;
      }
    }
    // An action or a flush on the stack may still hold it (another multi closed from a JS
    // callback): freed when runOnce returns.
    if (depth_ > 0) {
      dead_.push_back(a);
    } else {
      delete a;
    }
    Unref();
  }

  // Closes the set; the attachments left (none, when JS detached them first) dispatch nothing
  // more and are freed as the core detaches them.
  void Close() { set_.Close(); }

  bool HasWork() const {
    if (set_.size() > 0) return true;
    for (const Attachment* a : attachments_) {
      if (a->timer_armed) return true;
    }
    return false;
  }

  // Waits up to timeout_ms (-1: no limit; shortened to the earliest deadline), dispatches the
  // ready events, fires the expired timers, flushes each multi. Returns how many actions were
  // made, or -errno of a failed wait (last_error() says which).
  int RunOnce(int timeout_ms) {
    int wait = timeout_ms;
    bool any_deadline = false;
    int64_t earliest = 0;
    for (const Attachment* a : attachments_) {
      if (a->timer_armed && (!any_deadline || a->deadline_ns < earliest)) {
        earliest = a->deadline_ns;
        any_deadline = true;
      }
    }
    if (any_deadline) {
      int64_t left = earliest - NowNs();
      // Rounded up: waking before the deadline would only cost another turn.
      int64_t ms = left <= 0 ? 0 : (left + 999999) / 1000000;
      if (ms > INT32_MAX) ms = INT32_MAX;
      if (wait < 0 || ms < wait) wait = static_cast<int>(ms);
    } else if (wait < 0 && set_.size() == 0) {
      return 0;  // nothing could ever wake the wait
    }
    depth_++;
    int actions = set_.Dispatch(wait);
    if (actions < 0) {
      last_error_ = std::string(B::kWait) + ": on fd " + std::to_string(set_.fd());
      depth_--;
      Sweep();
      return actions;
    }
    // Timers that expired by now fire once each, after the events; one armed during this turn
    // has a later deadline and waits for the next.
    const int64_t now = NowNs();
    snapshot_ = attachments_;
    for (Attachment* a : snapshot_) {
      if (a->dead || !a->timer_armed || a->deadline_ns > now) continue;
      a->timer_armed = false;  // fired, so consumed (7.88.1 sends no -1 afterwards)
      actions++;
      a->api->action(a->multi, CURL_SOCKET_TIMEOUT, 0);
    }
    // Finished transfers reach JS in one call per multi per turn. JS runs there: it may attach,
    // detach or close multis, so walk a copy and skip what was detached.
    snapshot_ = attachments_;
    for (Attachment* a : snapshot_) {
      if (!a->dead) a->api->flush(a->multi);
    }
    depth_--;
    Sweep();
    return actions;
  }

  // Runs until Stop() (from a callback) or until nothing is left to wait for.
  int Run() {
    stop_ = false;
    int rc = 0;
    while (!stop_ && set_.open() && HasWork()) {
      rc = RunOnce(-1);
      if (rc < 0) break;
    }
    stop_ = false;
    return rc < 0 ? rc : 0;
  }

 private:
  ~Reactor() {
    for (Attachment* a : dead_) delete a;
  }

  void Sweep() {
    if (depth_ > 0) return;
    for (Attachment* a : dead_) delete a;
    dead_.clear();
  }

  Set<B> set_;
  multisock_loop_ref ref_;
  std::vector<Attachment*> attachments_;
  std::vector<Attachment*> snapshot_;
  std::vector<Attachment*> dead_;
  std::string last_error_;
  int refs_ = 1;
  int depth_ = 0;
  bool stop_ = false;
};

// --- the addon: the nested External and the native reactor class ------------------------------

// Argument `index` as an integer in [min, max], or a TypeError/RangeError naming it.
inline int64_t IntArg(const Napi::CallbackInfo& info, size_t index, const std::string& name,
                      int64_t min, int64_t max) {
  Napi::Env env = info.Env();
  if (index >= info.Length() || !info[index].IsNumber()) {
    throw Napi::TypeError::New(env, name + " must be a number");
  }
  double v = info[index].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(v) || std::trunc(v) != v) {
    throw Napi::RangeError::New(env, name + " must be an integer");
  }
  if (v < static_cast<double>(min) || v > static_cast<double>(max)) {
    throw Napi::RangeError::New(env, name + " must be an integer from " + std::to_string(min) +
                                         " to " + std::to_string(max));
  }
  return static_cast<int64_t>(v);
}

inline Napi::External<multisock_loop_ref> LoopExternal(Napi::Env env, multisock_loop_ref* ref) {
  auto loop = Napi::External<multisock_loop_ref>::New(env, ref);
  const napi_type_tag tag = {MULTISOCK_LOOP_TAG_LOWER, MULTISOCK_LOOP_TAG_UPPER};
  loop.TypeTag(&tag);
  return loop;
}

// `new Reactor(maxEvents)`: the native half of EpollReactor / KqueueReactor. The TypeScript
// class keeps the public API; every call here checks its receiver and arguments anyway.
template <class B>
class ReactorWrap final : public Napi::ObjectWrap<ReactorWrap<B>> {
  using Base = Napi::ObjectWrap<ReactorWrap<B>>;

 public:
  static Napi::Function Init(Napi::Env env) {
    return Base::DefineClass(env, "Reactor",
                             {
                                 Base::template InstanceMethod<&ReactorWrap::RunOnce>("runOnce"),
                                 Base::template InstanceMethod<&ReactorWrap::Run>("run"),
                                 Base::template InstanceMethod<&ReactorWrap::Stop>("stop"),
                                 Base::template InstanceMethod<&ReactorWrap::Close>("close"),
                                 Base::template InstanceMethod<&ReactorWrap::State>("state"),
                             });
  }

  explicit ReactorWrap(const Napi::CallbackInfo& info) : Base(info) {
    Napi::Env env = info.Env();
    const std::string where = std::string(B::kReactorName);
    int max_events = static_cast<int>(IntArg(info, 0, where + ": maxEvents", 1, 65536));
    reactor_ = new Reactor<B>();
    int rc = reactor_->Open(max_events);
    if (rc < 0) {
      reactor_->Unref();
      reactor_ = nullptr;
      Napi::Error error = Napi::Error::New(
          env, std::string(B::kCreate) + ": " + strerror(-rc) + " (cannot make the set)");
      error.Set("errno", Napi::Number::New(env, -rc));
      error.Set("syscall", Napi::String::New(env, B::kCreate));
      throw error;
    }
    Napi::Object self = info.This().As<Napi::Object>();
    self.DefineProperty(Napi::PropertyDescriptor::Value("loop", LoopExternal(env, reactor_->ref()),
                                                        napi_enumerable));
    // A worker torn down with the reactor still open must not leave its fd behind.
    napi_add_env_cleanup_hook(env, OnTeardown, this);
    hooked_ = true;
    env_ = env;
  }

  ~ReactorWrap() override {
    if (hooked_) napi_remove_env_cleanup_hook(env_, OnTeardown, this);
    Release();
  }

 private:
  static void OnTeardown(void* arg) {
    auto* self = static_cast<ReactorWrap*>(arg);
    self->hooked_ = false;
    self->Release();
  }

  void Release() {
    if (reactor_ == nullptr) return;
    reactor_->Close();
    reactor_->Unref();
    reactor_ = nullptr;
  }

  Reactor<B>& Open(const Napi::CallbackInfo& info, const char* what) {
    if (reactor_ == nullptr || !reactor_->open()) {
      throw Napi::Error::New(info.Env(),
                             std::string(B::kReactorName) + "." + what + ": the reactor is closed");
    }
    return *reactor_;
  }

  Reactor<B>& Idle(const Napi::CallbackInfo& info, const char* what) {
    Reactor<B>& reactor = Open(info, what);
    if (reactor.running()) {
      throw Napi::Error::New(info.Env(), std::string(B::kReactorName) + "." + what +
                                             ": called re-entrantly from inside a callback");
    }
    return reactor;
  }

  // runOnce(timeoutMs): actions made (>= 0), or -errno of a failed wait (see state()).
  Napi::Value RunOnce(const Napi::CallbackInfo& info) {
    Reactor<B>& reactor = Idle(info, "runOnce");
    int timeout = static_cast<int>(
        IntArg(info, 0, std::string(B::kReactorName) + ".runOnce: timeoutMs", -1, INT32_MAX));
    return Napi::Number::New(info.Env(), reactor.RunOnce(timeout));
  }

  // run(): 0, or -errno of a failed wait.
  Napi::Value Run(const Napi::CallbackInfo& info) {
    Reactor<B>& reactor = Idle(info, "run");
    return Napi::Number::New(info.Env(), reactor.Run());
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    if (reactor_ != nullptr) reactor_->Stop();
    return info.Env().Undefined();
  }

  // Closes the set. Idempotent; refused while running.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (reactor_ != nullptr && reactor_->running()) {
      throw Napi::Error::New(info.Env(), std::string(B::kReactorName) +
                                             ".close: called from inside runOnce/run; call "
                                             "stop() first");
    }
    if (reactor_ != nullptr) reactor_->Close();
    return info.Env().Undefined();
  }

  // state(): [open, running, registrations, attached, lastError].
  Napi::Value State(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Array out = Napi::Array::New(env, 5);
    const bool open = reactor_ != nullptr && reactor_->open();
    out.Set(0u, Napi::Boolean::New(env, open));
    out.Set(1u, Napi::Boolean::New(env, reactor_ != nullptr && reactor_->running()));
    out.Set(2u, Napi::Number::New(env, reactor_ != nullptr ? reactor_->registrations() : 0));
    out.Set(3u, Napi::Number::New(
                    env, reactor_ != nullptr ? static_cast<double>(reactor_->attached()) : 0));
    out.Set(4u, Napi::String::New(env, reactor_ != nullptr ? reactor_->last_error() : ""));
    return out;
  }

  Reactor<B>* reactor_ = nullptr;
  napi_env env_ = nullptr;
  bool hooked_ = false;
};

// The exports of an adapter's addon: `loop` (the nested table's External) and `Reactor`.
template <class B>
Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  auto* factory = new NestedFactory<B>(env);
  env.SetInstanceData<NestedFactory<B>>(factory);
  exports.Set("loop", LoopExternal(env, factory->ref()));
  exports.Set("Reactor", ReactorWrap<B>::Init(env));
  exports.Set("name", Napi::String::New(env, B::kName));
  return exports;
}

}  // namespace poller
}  // namespace multisock
