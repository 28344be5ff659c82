// @multisock/adapter-epoll's native loop: the epoll backend of multisock/poller_loop.h.
//
// The mapping (docs/contract.md#mapping, epoll column), level-triggered only (libcurl may leave
// data in the kernel after one call, docs/contract.md#level-triggered):
// - IN / OUT / INOUT: EPOLLIN|EPOLLRDHUP / EPOLLOUT / both, data.u64 = fd | tag << 32. The
//   first one is an ADD (EEXIST: the kernel has the fd though the table does not,
//   docs/contract.md#conformance row 7: MOD), a change a MOD (ENOENT: the file we registered was
//   closed and the number reused: ADD under a new tag).
// - NONE (never sent in practice): the fd leaves the set but keeps its registration. A MOD to
//   no events would still report EPOLLHUP/EPOLLERR, level-triggered, over and over.
// - REMOVE: DEL; ENOENT/EBADF mean already gone (docs/contract.md#conformance row 6).
// - Readiness: EPOLLIN -> IN, EPOLLOUT -> OUT, EPOLLHUP/EPOLLRDHUP -> IN, EPOLLERR -> ERR with
//   the watched directions. Events whose tag is not the registration's are stale.
#include <errno.h>
#include <multisock/poller_loop.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace {

using multisock::poller::Event;
using multisock::poller::FdDetail;
using multisock::poller::Registration;
using multisock::poller::Tags;

class EpollBackend {
 public:
  static constexpr const char* kName = "epoll";
  static constexpr const char* kReactorName = "EpollReactor";
  static constexpr const char* kCreate = "epoll_create1";
  static constexpr const char* kWait = "epoll_wait";

  EpollBackend() = default;
  EpollBackend(const EpollBackend&) = delete;
  EpollBackend& operator=(const EpollBackend&) = delete;
  ~EpollBackend() { Close(); }

  int Open() {
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    return epfd_ < 0 ? -errno : 0;
  }

  int fd() const { return epfd_; }

  void Close() {
    // On Linux the fd is released even when close() reports EINTR: never retry.
    if (epfd_ >= 0) ::close(epfd_);
    epfd_ = -1;
  }

  int Set(Registration& reg, int what, bool, Tags& tags, std::string* error) {
    if (what == CURL_POLL_NONE) return Unset(reg, error);
    uint32_t events = 0;
    if ((what & CURL_POLL_IN) != 0) events |= EPOLLIN | EPOLLRDHUP;
    if ((what & CURL_POLL_OUT) != 0) events |= EPOLLOUT;
    if (reg.kernel == 0) {
      int rc = Ctl(EPOLL_CTL_ADD, reg, events);
      if (rc == -EEXIST) rc = Ctl(EPOLL_CTL_MOD, reg, events);
      if (rc < 0) {
        *error = FdDetail("epoll_ctl(ADD)", "cannot watch", reg.fd);
        return rc;
      }
    } else {
      int rc = Ctl(EPOLL_CTL_MOD, reg, events);
      if (rc == -ENOENT) {
        reg.tag = tags.Next();
        rc = Ctl(EPOLL_CTL_ADD, reg, events);
      }
      if (rc < 0) {
        *error = FdDetail("epoll_ctl(MOD)", "cannot change the interest of", reg.fd);
        return rc;
      }
    }
    reg.kernel = 1;
    return 0;
  }

  int Unset(Registration& reg, std::string* error) {
    if (reg.kernel == 0) return 0;
    reg.kernel = 0;
    int rc = Ctl(EPOLL_CTL_DEL, reg, 0);
    if (rc == 0 || rc == -ENOENT || rc == -EBADF) return 0;
    *error = FdDetail("epoll_ctl(DEL)", "cannot stop watching", reg.fd);
    return rc;
  }

  int Wait(int timeout_ms, int max_events, std::vector<Event>& out) {
    if (kernel_.size() < static_cast<size_t>(max_events)) {
      kernel_.resize(static_cast<size_t>(max_events));
    }
    out.clear();
    int n = epoll_wait(epfd_, kernel_.data(), max_events, timeout_ms);
    if (n < 0) return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++) {
      const epoll_event& ev = kernel_[static_cast<size_t>(i)];
      unsigned readiness = 0;
      if ((ev.events & EPOLLIN) != 0) readiness |= multisock::poller::kReadable;
      if ((ev.events & EPOLLOUT) != 0) readiness |= multisock::poller::kWritable;
      if ((ev.events & (EPOLLHUP | EPOLLRDHUP)) != 0) readiness |= multisock::poller::kHangup;
      if ((ev.events & EPOLLERR) != 0) readiness |= multisock::poller::kError;
      out.push_back(Event{static_cast<int>(static_cast<uint32_t>(ev.data.u64)),
                          static_cast<uint32_t>(ev.data.u64 >> 32), readiness});
    }
    return n;
  }

 private:
  int Ctl(int op, const Registration& reg, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = static_cast<uint64_t>(static_cast<uint32_t>(reg.fd)) |
                  (static_cast<uint64_t>(reg.tag) << 32);
    return epoll_ctl(epfd_, op, reg.fd, &ev) == 0 ? 0 : -errno;
  }

  int epfd_ = -1;
  std::vector<epoll_event> kernel_;
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  return multisock::poller::InitAddon<EpollBackend>(env, exports);
}

}  // namespace

NODE_API_MODULE(multisock_epoll, Init)
