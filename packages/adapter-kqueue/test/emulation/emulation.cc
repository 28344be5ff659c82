// A kqueue emulation over epoll, for running @multisock/adapter-kqueue's logic on Linux. TEST
// ONLY: it is not part of the package and is never loaded by it. It has the same JS interface
// as the real backend (native/kqueue.cc) and follows FreeBSD's kqueue(2) for what the adapter
// uses:
//
// - kqueue() makes a new queue: an epoll fd (so it can itself be watched by a uv_poll, as a
//   real kqueue fd can) plus a table of knotes keyed by (ident, filter): "there may only be one
//   unique kevent per kqueue"; re-adding modifies (udata) and never duplicates.
// - EVFILT_READ / EVFILT_WRITE on descriptors, with EV_ADD, EV_DELETE, EV_ENABLE, EV_DISABLE,
//   EV_RECEIPT. A change on a closed descriptor answers EBADF; EV_DELETE/EV_ENABLE/EV_DISABLE
//   of a knote that does not exist answers ENOENT; any other filter answers EINVAL.
// - Errors and receipts go to the event list as EV_ERROR entries (flags exactly EV_ERROR, data
//   the errno, 0 for success; ident, filter, fflags and udata as given) while there is room;
//   with no room an error fails the whole call (-errno) and a receipt stops processing, and
//   the changes after it are not applied. If any EV_ERROR entry was written, the call returns
//   their number without collecting events (as FreeBSD's kqueue_kevent does).
// - Events are level-triggered. READ fires when data can be read, with data = bytes readable
//   (FIONREAD) and EV_EOF when the read direction is shut (EPOLLRDHUP/EPOLLHUP); WRITE when
//   a write would not block, data = room left in the send buffer, EV_EOF when the peer is gone
//   (EPOLLHUP; a FIFO's EPOLLERR). Both fire on a socket error. Disabled knotes are not reported.
// - "Calling close() on a file descriptor will remove any kevents that reference the
//   descriptor": a descriptor with knotes stays registered with epoll (parked, with no events,
//   while every knote is disabled), and epoll keys registrations by open file description; so
//   when an EPOLL_CTL_MOD of the fd number fails, the number was closed (and maybe reused) and
//   its knotes are gone. Checked whenever a change or an event touches the fd.
// - The flags the kernel keeps from the first EV_ADD (EV_RECEIPT among them) come back on
//   every event of that knote, as on FreeBSD.
//
// Not emulated (refused before anything is applied, like the real backend refuses them):
// EV_CLEAR, EV_ONESHOT, EV_DISPATCH. Other differences: the socket error is not reported in
// fflags on EOF (reading SO_ERROR on Linux would clear it from under libcurl); regular files
// (which epoll refuses) answer EPERM; a listening socket's data is 0, not its backlog; a fd
// that was dup()ed and then closed keeps its epoll registration until the last copy closes
// (its events are dropped here, never reported, but they do wake epoll_wait).

#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <napi.h>

#include "../../native/kevent_args.h"

namespace {

using kevent_args::kFields;
namespace field = kevent_args;

// FreeBSD's values (sys/event.h).
constexpr int32_t kEvfiltRead = -1;
constexpr int32_t kEvfiltWrite = -2;
constexpr int32_t kEvAdd = 0x0001;
constexpr int32_t kEvDelete = 0x0002;
constexpr int32_t kEvEnable = 0x0004;
constexpr int32_t kEvDisable = 0x0008;
constexpr int32_t kEvReceipt = 0x0040;
constexpr int32_t kEvSysflags = 0xf000;
constexpr int32_t kEvEof = 0x8000;
constexpr int32_t kEvError = 0x4000;
constexpr int32_t kAllowedFlags = kEvAdd | kEvDelete | kEvEnable | kEvDisable | kEvReceipt;
constexpr int32_t kActionFlags = kEvAdd | kEvDelete | kEvEnable | kEvDisable;

struct Knote {
  int32_t kept_flags;  // from the first EV_ADD, less the actions; returned with every event
  int32_t udata;
  uint32_t sfflags;
  int32_t sdata;
  bool enabled;
};

// The knotes of one descriptor number.
struct Descriptor {
  mode_t mode;
  uint32_t serial;  // in the epoll data: events carrying another one are stale
  std::optional<Knote> read;
  std::optional<Knote> write;
  uint32_t epoll_events = 0;  // as registered with epoll; 0 = not registered yet
};

// Parked: registered, no event wanted. Edge-triggered, so the EPOLLERR/EPOLLHUP that epoll
// reports regardless wake it at most once per change.
constexpr uint32_t kParked = EPOLLET;

struct Queue {
  int epfd;
  uint32_t next_serial = 1;
  std::unordered_map<int32_t, Descriptor> fds;
  std::vector<epoll_event> ready;
};

epoll_event EpollEvent(int32_t fd, const Descriptor& d, uint32_t events) {
  epoll_event ev{};
  ev.events = events;  // level-triggered unless parked
  ev.data.u64 = static_cast<uint32_t>(fd) | (static_cast<uint64_t>(d.serial) << 32);
  return ev;
}

// Whether `fd` still names the open file the knotes were made for: epoll keys its
// registrations by open file description, so MOD (to the same value) fails otherwise.
bool StillOpen(Queue& q, int32_t fd, const Descriptor& d) {
  if (d.epoll_events == 0) return false;
  epoll_event ev = EpollEvent(fd, d, d.epoll_events);
  return epoll_ctl(q.epfd, EPOLL_CTL_MOD, fd, &ev) == 0;
}

int64_t NowMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Brings epoll's interest for `fd` in line with its enabled knotes. Returns 0 or an errno.
int Sync(Queue& q, int32_t fd, Descriptor& d) {
  if (!d.read && !d.write) {
    if (d.epoll_events != 0) epoll_ctl(q.epfd, EPOLL_CTL_DEL, fd, nullptr);
    d.epoll_events = 0;
    return 0;
  }
  uint32_t want = 0;
  if (d.read && d.read->enabled) want |= EPOLLIN | EPOLLRDHUP;
  if (d.write && d.write->enabled) want |= EPOLLOUT;
  if (want == 0) want = kParked;
  if (want == d.epoll_events) return 0;
  epoll_event ev = EpollEvent(fd, d, want);
  if (epoll_ctl(q.epfd, d.epoll_events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev) < 0) {
    return errno;
  }
  d.epoll_events = want;
  return 0;
}

// kqueue_register: applies one change. Returns 0 or the errno for its EV_ERROR entry.
int Register(Queue& q, const int32_t* change, int32_t flags) {
  int32_t filter = change[field::kFilter];
  if (filter != kEvfiltRead && filter != kEvfiltWrite) return EINVAL;
  int32_t fd = change[field::kIdent];
  struct stat st;
  if (fstat(fd, &st) < 0) return EBADF;

  auto it = q.fds.find(fd);
  if (it != q.fds.end() && !StillOpen(q, fd, it->second)) {
    // The descriptor was closed (and the number reused): its knotes went with it.
    q.fds.erase(it);
    it = q.fds.end();
  }
  Descriptor* d = it == q.fds.end() ? nullptr : &it->second;
  std::optional<Knote>* slot = nullptr;
  std::optional<Knote> before;
  if (d != nullptr) {
    slot = filter == kEvfiltRead ? &d->read : &d->write;
    before = *slot;
  }
  bool existed = before.has_value();
  if (!existed && (flags & kEvAdd) == 0) return ENOENT;

  bool created = false;
  if (d == nullptr) {
    uint32_t serial = q.next_serial++;
    if (q.next_serial == 0) q.next_serial = 1;
    d = &q.fds.emplace(fd, Descriptor{st.st_mode, serial, {}, {}, 0}).first->second;
    slot = filter == kEvfiltRead ? &d->read : &d->write;
    created = true;
  }
  if (flags & kEvAdd) {
    if (!existed) {
      // "Adding an event automatically enables it, unless overridden by the EV_DISABLE flag."
      *slot = Knote{flags & ~kActionFlags, change[field::kUdata],
                    static_cast<uint32_t>(change[field::kFflags]), change[field::kData],
                    (flags & kEvDisable) == 0};
    } else {
      // "Re-adding an existing event will modify the parameters of the original event."
      (*slot)->udata = change[field::kUdata];
      (*slot)->sfflags = static_cast<uint32_t>(change[field::kFflags]);
      (*slot)->sdata = change[field::kData];
    }
  }
  if (flags & kEvDelete) {
    slot->reset();
  } else if (flags & kEvDisable) {
    (*slot)->enabled = false;
  } else if (flags & kEvEnable) {
    (*slot)->enabled = true;
  }

  int error = Sync(q, fd, *d);
  if (error != 0) {
    // Undo, so a refused registration leaves no knote behind (Sync changed nothing).
    if (created) {
      q.fds.erase(fd);
    } else {
      *slot = before;
    }
    return error;
  }
  if (!d->read && !d->write) q.fds.erase(fd);
  return 0;
}

int32_t Readable(int fd) {
  int n = 0;
  return ioctl(fd, FIONREAD, &n) == 0 ? n : 0;
}

int32_t Writable(int fd, mode_t mode) {
  int size = 0;
  int queued = 0;
  if (S_ISSOCK(mode)) {
    socklen_t len = sizeof size;
    if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, &len) < 0) return 0;
    if (ioctl(fd, SIOCOUTQ, &queued) < 0) queued = 0;
  } else if (S_ISFIFO(mode)) {
    size = fcntl(fd, F_GETPIPE_SZ);
    if (size < 0) return 0;
    queued = Readable(fd);
  }
  return size > queued ? size - queued : 0;
}

void Put(int32_t* r, int32_t fd, int32_t filter, int32_t flags, int32_t data, int32_t udata) {
  r[field::kIdent] = fd;
  r[field::kFilter] = filter;
  r[field::kFlags] = flags;
  r[field::kFflags] = 0;
  r[field::kData] = data;
  r[field::kUdata] = udata;
}

// kqueue_scan: waits for and collects up to `nevents` events. Returns the count or -errno.
int Scan(Queue& q, int32_t* out, int32_t nevents, int64_t timeout_ms) {
  if (nevents == 0) return 0;  // "kevent() will return immediately even if there is a timeout"
  q.ready.resize(static_cast<size_t>(nevents));
  int64_t deadline = timeout_ms < 0 ? -1 : NowMs() + timeout_ms;
  for (;;) {
    int wait = -1;
    if (deadline >= 0) {
      int64_t left = deadline - NowMs();
      wait = left > 0 ? static_cast<int>(left) : 0;
    }
    int n = epoll_wait(q.epfd, q.ready.data(), nevents, wait);
    if (n < 0) return -errno;  // EINTR: "a signal was delivered before the timeout expired"
    int count = 0;
    for (int i = 0; i < n && count < nevents; i++) {
      const epoll_event& ev = q.ready[static_cast<size_t>(i)];
      int32_t fd = static_cast<int32_t>(ev.data.u64 & 0xffffffffu);
      auto it = q.fds.find(fd);
      if (it == q.fds.end() || it->second.serial != static_cast<uint32_t>(ev.data.u64 >> 32)) {
        continue;
      }
      Descriptor& d = it->second;
      if (!StillOpen(q, fd, d)) {
        q.fds.erase(it);  // closed since: its knotes are gone
        continue;
      }
      uint32_t e = ev.events;
      if (d.read && d.read->enabled && (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
        int32_t flags = d.read->kept_flags | ((e & (EPOLLRDHUP | EPOLLHUP)) ? kEvEof : 0);
        Put(out + static_cast<size_t>(count++) * kFields, fd, kEvfiltRead, flags, Readable(fd),
            d.read->udata);
      }
      if (count < nevents && d.write && d.write->enabled &&
          (e & (EPOLLOUT | EPOLLHUP | EPOLLERR))) {
        bool eof = (e & EPOLLHUP) || ((e & EPOLLERR) && S_ISFIFO(d.mode));
        int32_t flags = d.write->kept_flags | (eof ? kEvEof : 0);
        Put(out + static_cast<size_t>(count++) * kFields, fd, kEvfiltWrite, flags,
            Writable(fd, d.mode), d.write->udata);
      }
    }
    // Only stale events: keep waiting, as the kernel would not have woken up for them.
    if (count > 0 || (deadline >= 0 && NowMs() >= deadline)) return count;
  }
}

class EmulationAddon : public Napi::Addon<EmulationAddon> {
 public:
  EmulationAddon(Napi::Env env, Napi::Object exports) {
    Napi::Object constants = Napi::Object::New(env);
    auto set = [&](const char* name, int32_t value) {
      constants.Set(name, Napi::Number::New(env, value));
    };
    set("EVFILT_READ", kEvfiltRead);
    set("EVFILT_WRITE", kEvfiltWrite);
    set("EV_ADD", kEvAdd);
    set("EV_DELETE", kEvDelete);
    set("EV_ENABLE", kEvEnable);
    set("EV_DISABLE", kEvDisable);
    set("EV_RECEIPT", kEvReceipt);
    set("EV_EOF", kEvEof);
    set("EV_ERROR", kEvError);
    set("ENOENT", ENOENT);
    set("EBADF", EBADF);
    set("EINTR", EINTR);
    set("EINVAL", EINVAL);
    constants.Freeze();
    DefineAddon(exports, {
                             InstanceMethod("kqueue", &EmulationAddon::Kqueue),
                             InstanceMethod("kevent", &EmulationAddon::Kevent),
                             InstanceMethod("close", &EmulationAddon::Close),
                             InstanceValue("constants", constants, napi_enumerable),
                         });
  }

  ~EmulationAddon() {
    for (auto& entry : queues_) ::close(entry.second.epfd);
  }

 private:
  Napi::Value Kqueue(const Napi::CallbackInfo& info) {
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) return Napi::Number::New(info.Env(), -errno);
    queues_.emplace(epfd, Queue{epfd, 1, {}, {}});
    return Napi::Number::New(info.Env(), epfd);
  }

  Queue& Owned(const Napi::CallbackInfo& info, const char* name) {
    int fd = static_cast<int>(kevent_args::Int(info, 0, name, 0, INT32_MAX));
    auto it = queues_.find(fd);
    if (it == queues_.end()) {
      throw Napi::RangeError::New(info.Env(), std::string(name) + " " + std::to_string(fd) +
                                                  " is not an open kqueue made by this backend");
    }
    return it->second;
  }

  Napi::Value Kevent(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Queue& q = Owned(info, "kevent: kq");
    Napi::Int32Array changes = kevent_args::Records(info, 1, "kevent: changes");
    int32_t nchanges = kevent_args::Count(info, 2, "kevent: nchanges", changes);
    Napi::Int32Array events = kevent_args::Records(info, 3, "kevent: events");
    int32_t nevents = kevent_args::Count(info, 4, "kevent: nevents", events);
    int64_t timeout_ms = kevent_args::Int(info, 5, "kevent: timeoutMs", -1, INT32_MAX);
    // Checked (and copied) before anything is applied, so a refused call changes nothing.
    std::vector<int32_t> copy(changes.Data(), changes.Data() + nchanges * kFields);
    for (int32_t i = 0; i < nchanges; i++) {
      kevent_args::CheckChange(env, copy.data() + static_cast<size_t>(i) * kFields,
                               static_cast<size_t>(i), kAllowedFlags);
    }

    int32_t* out = events.Data();
    int32_t room = nevents;
    int nerrors = 0;
    for (int32_t i = 0; i < nchanges; i++) {
      const int32_t* change = copy.data() + static_cast<size_t>(i) * kFields;
      int32_t flags = change[field::kFlags] & ~kEvSysflags;
      int error = Register(q, change, flags);
      if (error == 0 && (flags & kEvReceipt) == 0) continue;
      if (room == 0) return Napi::Number::New(env, -error);  // later changes are not applied
      int32_t* r = out + static_cast<size_t>(nerrors) * kFields;
      Put(r, change[field::kIdent], change[field::kFilter], kEvError, error, change[field::kUdata]);
      r[field::kFflags] = change[field::kFflags];
      room--;
      nerrors++;
    }
    if (nerrors > 0) return Napi::Number::New(env, nerrors);
    return Napi::Number::New(env, Scan(q, out, nevents, timeout_ms));
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Queue& q = Owned(info, "close: kq");
    int epfd = q.epfd;
    queues_.erase(epfd);
    int rc = ::close(epfd);
    return Napi::Number::New(info.Env(), rc == 0 ? 0 : -errno);
  }

  std::unordered_map<int, Queue> queues_;
};

}  // namespace

NODE_API_ADDON(EmulationAddon)
