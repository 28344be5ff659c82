// A kqueue(2) emulation over epoll: kqueue() and kevent() as C functions (include/sys/event.h),
// so the adapter's own native/kqueue.cc runs on Linux. TEST ONLY: it is not part of the package
// and only the test tree's addon (addon.cc) is built with it. It follows FreeBSD's kqueue(2) for
// what the adapter uses:
//
// - kqueue() makes a new queue: an epoll fd (so it can itself be watched by a uv_poll, as a
//   real kqueue fd can) plus a table of knotes keyed by (ident, filter): "there may only be one
//   unique kevent per kqueue"; re-adding modifies (udata) and never duplicates.
// - EVFILT_READ / EVFILT_WRITE on descriptors, with EV_ADD, EV_DELETE and EV_RECEIPT (the flags
//   the adapter uses). A change on a closed descriptor answers EBADF; EV_DELETE of a knote that
//   does not exist answers ENOENT; any other filter answers EINVAL.
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
// Not emulated (the call fails with EINVAL before anything is applied): EV_CLEAR, EV_ONESHOT,
// EV_DISPATCH, and any other filter than READ and WRITE (answered EINVAL in its entry). Other
// differences: the socket error is not reported in fflags on EOF (reading SO_ERROR on Linux would
// clear it from under libcurl); regular files (which epoll refuses) answer EPERM; a listening
// socket's data is 0, not its backlog; a fd that was dup()ed and then closed keeps its epoll
// registration until the last copy closes (its events are dropped here, never reported, but they do
// wake epoll_wait).

#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/event.h>  // include/sys/event.h: the emulation's own
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

namespace {

constexpr int kActionFlags = EV_ADD | EV_DELETE;
constexpr int kRefused = EV_CLEAR | EV_ONESHOT | EV_DISPATCH;

struct Knote {
  int kept_flags;  // from the first EV_ADD, less the actions; returned with every event
  void* udata;
  unsigned sfflags;
  int64_t sdata;
};

// The knotes of one descriptor number.
struct Descriptor {
  mode_t mode;
  uint32_t serial;  // in the epoll data: events carrying another one are stale
  std::optional<Knote> read;
  std::optional<Knote> write;
  uint32_t epoll_events = 0;  // as registered with epoll; 0 = not registered yet
};

struct Queue {
  int epfd;
  uint32_t next_serial = 1;
  std::unordered_map<int, Descriptor> fds;
  std::vector<epoll_event> ready;
};

// Every queue by its fd. A kqueue is closed with plain close(), which the emulation does not
// see: a queue whose number comes back from kqueue() is replaced. Worker threads each use their
// own queues; the lock covers the map only.
std::mutex queues_lock;
std::unordered_map<int, std::shared_ptr<Queue>> queues;

std::mutex log_lock;
bool recording = false;
std::vector<kqueue_emulation::Call> log;

std::shared_ptr<Queue> Find(int kq) {
  std::lock_guard<std::mutex> lock(queues_lock);
  auto it = queues.find(kq);
  return it == queues.end() ? nullptr : it->second;
}

epoll_event EpollEvent(int fd, const Descriptor& d, uint32_t events) {
  epoll_event ev{};
  ev.events = events;  // level-triggered unless parked
  ev.data.u64 = static_cast<uint32_t>(fd) | (static_cast<uint64_t>(d.serial) << 32);
  return ev;
}

// Whether `fd` still names the open file the knotes were made for: epoll keys its
// registrations by open file description, so MOD (to the same value) fails otherwise.
bool StillOpen(Queue& q, int fd, const Descriptor& d) {
  if (d.epoll_events == 0) return false;
  epoll_event ev = EpollEvent(fd, d, d.epoll_events);
  return epoll_ctl(q.epfd, EPOLL_CTL_MOD, fd, &ev) == 0;
}

int64_t NowMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Brings epoll's interest for `fd` in line with its knotes. Returns 0 or an errno.
int Sync(Queue& q, int fd, Descriptor& d) {
  if (!d.read && !d.write) {
    if (d.epoll_events != 0) epoll_ctl(q.epfd, EPOLL_CTL_DEL, fd, nullptr);
    d.epoll_events = 0;
    return 0;
  }
  uint32_t want = 0;
  if (d.read) want |= EPOLLIN | EPOLLRDHUP;
  if (d.write) want |= EPOLLOUT;
  if (want == d.epoll_events) return 0;
  epoll_event ev = EpollEvent(fd, d, want);
  if (epoll_ctl(q.epfd, d.epoll_events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev) < 0) {
    return errno;
  }
  d.epoll_events = want;
  return 0;
}

// kqueue_register: applies one change. Returns 0 or the errno for its EV_ERROR entry.
int Register(Queue& q, const struct kevent& change, int flags) {
  if (change.filter != EVFILT_READ && change.filter != EVFILT_WRITE) return EINVAL;
  if (change.ident > static_cast<uintptr_t>(INT32_MAX)) return EBADF;
  const int fd = static_cast<int>(change.ident);
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
    slot = change.filter == EVFILT_READ ? &d->read : &d->write;
    before = *slot;
  }
  const bool existed = before.has_value();
  if (!existed && (flags & EV_ADD) == 0) return ENOENT;

  bool created = false;
  if (d == nullptr) {
    uint32_t serial = q.next_serial++;
    if (q.next_serial == 0) q.next_serial = 1;
    d = &q.fds.emplace(fd, Descriptor{st.st_mode, serial, {}, {}, 0}).first->second;
    slot = change.filter == EVFILT_READ ? &d->read : &d->write;
    created = true;
  }
  if ((flags & EV_ADD) != 0) {
    if (!existed) {
      *slot = Knote{flags & ~kActionFlags, change.udata, change.fflags, change.data};
    } else {
      // "Re-adding an existing event will modify the parameters of the original event."
      (*slot)->udata = change.udata;
      (*slot)->sfflags = change.fflags;
      (*slot)->sdata = change.data;
    }
  }
  if ((flags & EV_DELETE) != 0) slot->reset();

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

int64_t Readable(int fd) {
  int n = 0;
  return ioctl(fd, FIONREAD, &n) == 0 ? n : 0;
}

int64_t Writable(int fd, mode_t mode) {
  int size = 0;
  int queued = 0;
  if (S_ISSOCK(mode)) {
    socklen_t len = sizeof size;
    if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, &len) < 0) return 0;
    if (ioctl(fd, SIOCOUTQ, &queued) < 0) queued = 0;
  } else if (S_ISFIFO(mode)) {
    size = fcntl(fd, F_GETPIPE_SZ);
    if (size < 0) return 0;
    queued = static_cast<int>(Readable(fd));
  }
  return size > queued ? size - queued : 0;
}

void Put(struct kevent* r, int fd, int filter, int flags, int64_t data, void* udata) {
  *r = {};
  r->ident = static_cast<uintptr_t>(fd);
  r->filter = static_cast<short>(filter);
  r->flags = static_cast<unsigned short>(flags);
  r->data = data;
  r->udata = udata;
}

// kqueue_scan: waits for and collects up to `nevents` events. Returns the count, or -1 with errno.
int Scan(Queue& q, struct kevent* out, int nevents, int64_t timeout_ms) {
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
    if (n < 0) return -1;  // EINTR: "a signal was delivered before the timeout expired"
    int count = 0;
    for (int i = 0; i < n && count < nevents; i++) {
      const epoll_event& ev = q.ready[static_cast<size_t>(i)];
      int fd = static_cast<int>(ev.data.u64 & 0xffffffffu);
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
      if (d.read && (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
        int flags = d.read->kept_flags | ((e & (EPOLLRDHUP | EPOLLHUP)) ? EV_EOF : 0);
        Put(&out[count++], fd, EVFILT_READ, flags, Readable(fd), d.read->udata);
      }
      if (count < nevents && d.write && (e & (EPOLLOUT | EPOLLHUP | EPOLLERR))) {
        bool eof = (e & EPOLLHUP) || ((e & EPOLLERR) && S_ISFIFO(d.mode));
        int flags = d.write->kept_flags | (eof ? EV_EOF : 0);
        Put(&out[count++], fd, EVFILT_WRITE, flags, Writable(fd, d.mode), d.write->udata);
      }
    }
    // Only stale events: keep waiting, as the kernel would not have woken up for them.
    if (count > 0 || (deadline >= 0 && NowMs() >= deadline)) return count;
  }
}

int Kevent(Queue& q, const struct kevent* changes, int nchanges, struct kevent* events, int nevents,
           int64_t timeout_ms) {
  // Checked before anything is applied, so a refused call changes nothing.
  for (int i = 0; i < nchanges; i++) {
    if ((changes[i].flags & kRefused) != 0) {
      errno = EINVAL;
      return -1;
    }
  }
  int room = nevents;
  int nerrors = 0;
  for (int i = 0; i < nchanges; i++) {
    const struct kevent& change = changes[i];
    int flags = change.flags & ~EV_SYSFLAGS;
    int error = Register(q, change, flags);
    if (error == 0 && (flags & EV_RECEIPT) == 0) continue;
    if (room == 0) {  // later changes are not applied
      errno = error;
      return -1;
    }
    struct kevent* r = &events[nerrors];
    Put(r, static_cast<int>(change.ident), change.filter, EV_ERROR, error, change.udata);
    r->fflags = change.fflags;
    room--;
    nerrors++;
  }
  if (nerrors > 0) return nerrors;
  return Scan(q, events, nevents, timeout_ms);
}

}  // namespace

extern "C" int kqueue(void) {
  int epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) return -1;
  auto queue = std::make_shared<Queue>();
  queue->epfd = epfd;
  std::lock_guard<std::mutex> lock(queues_lock);
  queues[epfd] = std::move(queue);
  return epfd;
}

extern "C" int kevent(int kq, const struct kevent* changelist, int nchanges,
                      struct kevent* eventlist, int nevents, const struct timespec* timeout) {
  std::shared_ptr<Queue> q = Find(kq);
  if (q == nullptr || nchanges < 0 || nevents < 0) {
    errno = q == nullptr ? EBADF : EINVAL;
    return -1;
  }
  int64_t timeout_ms = -1;
  if (timeout != nullptr) {
    timeout_ms = static_cast<int64_t>(timeout->tv_sec) * 1000 + timeout->tv_nsec / 1000000;
  }
  int rc = Kevent(*q, changelist, nchanges, eventlist, nevents, timeout_ms);
  int saved = errno;
  {
    std::lock_guard<std::mutex> lock(log_lock);
    if (recording) {
      kqueue_emulation::Call call{kq, nevents, timeout_ms, rc < 0 ? -saved : rc, {}, {}};
      call.changes.assign(changelist, changelist + nchanges);
      if (rc > 0) call.events.assign(eventlist, eventlist + rc);
      log.push_back(std::move(call));
    }
  }
  errno = saved;
  return rc;
}

namespace kqueue_emulation {

void Record(bool on) {
  std::lock_guard<std::mutex> lock(log_lock);
  recording = on;
  if (!on) log.clear();
}

std::vector<Call> Take() {
  std::lock_guard<std::mutex> lock(log_lock);
  std::vector<Call> out;
  out.swap(log);
  return out;
}

}  // namespace kqueue_emulation
