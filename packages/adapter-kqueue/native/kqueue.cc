// @multisock/adapter-kqueue's native loop: the kqueue backend of multisock/poller_loop.h, for
// macOS and the BSDs. The package's tests compile this same file on Linux against the test
// tree's kqueue(2) emulation over epoll (test/emulation), which provides <sys/event.h> there.
//
// Read and write are separate filters, each keyed by (fd, filter), so each registration keeps
// which filters the kernel has (reg.kernel) and submits only those that change (IN -> OUT
// deletes READ and adds WRITE), in ONE kevent() call, every change with EV_RECEIPT so each gets
// its own EV_ERROR entry (data 0 on success) and no pending event is drained (FreeBSD kqueue(2),
// EV_RECEIPT). Deleting a filter that is gone answers ENOENT (or EBADF once the fd is closed):
// done. Level-triggered only: never EV_CLEAR, EV_ONESHOT or EV_DISPATCH
// (docs/contract.md#level-triggered).
//
// Readiness (docs/contract.md#mapping, kqueue column): EVFILT_READ -> IN, EVFILT_WRITE -> OUT,
// EV_EOF -> IN, EV_ERROR -> ERR with the watched directions; READ and WRITE of one fd in a batch
// become one action (the poller loop coalesces them). udata carries the registration's generation
// tag.
#include <errno.h>
#include <fcntl.h>
#include <multisock/poller_loop.h>
#include <stdint.h>
#include <sys/types.h>
// sys/types.h first: the BSDs' event.h uses its types.
#include <sys/event.h>
#include <sys/time.h>
#include <unistd.h>

#include <string>
#include <vector>

#ifndef EV_RECEIPT
#error "this kqueue has no EV_RECEIPT (FreeBSD 8.1+, macOS 10.5+, OpenBSD 6.0+, NetBSD 10+)"
#endif

namespace multisock {
namespace kqueue_backend {

using poller::Event;
using poller::Registration;
using poller::Tags;

class KqueueBackend {
 public:
  static constexpr const char* kName = "kqueue";
  static constexpr const char* kReactorName = "KqueueReactor";
  static constexpr const char* kCreate = "kqueue";
  static constexpr const char* kWait = "kevent";

  KqueueBackend() = default;
  KqueueBackend(const KqueueBackend&) = delete;
  KqueueBackend& operator=(const KqueueBackend&) = delete;
  ~KqueueBackend() { Close(); }

  int Open() {
    kq_ = ::kqueue();
    if (kq_ < 0) return -errno;
    // Not every BSD has kqueue1/kqueuex; a kqueue is never inherited by fork anyway, and
    // FD_CLOEXEC keeps it out of exec'd programs.
    ::fcntl(kq_, F_SETFD, FD_CLOEXEC);
    return 0;
  }

  int fd() const { return kq_; }

  void Close() {
    // The descriptor is released even when close() reports EINTR: never retry.
    if (kq_ >= 0) ::close(kq_);
    kq_ = -1;
  }

  int Set(Registration& reg, int what, bool fresh, Tags&, std::string* error) {
    const bool read = (what & CURL_POLL_IN) != 0;
    const bool write = (what & CURL_POLL_OUT) != 0;
    const bool has_read = (reg.kernel & kRead) != 0;
    const bool has_write = (reg.kernel & kWrite) != 0;
    struct kevent changes[2];
    int n = 0;
    // Fresh: the kernel may have dropped the filters with a closed fd, or hold them for the same
    // number with an old tag; submit every filter, whatever we believed.
    if (read != has_read || fresh) Put(&changes[n++], reg, EVFILT_READ, read);
    if (write != has_write || fresh) Put(&changes[n++], reg, EVFILT_WRITE, write);
    return Submit(reg, changes, n, error);
  }

  int Unset(Registration& reg, std::string* error) {
    struct kevent changes[2];
    int n = 0;
    if ((reg.kernel & kRead) != 0) Put(&changes[n++], reg, EVFILT_READ, false);
    if ((reg.kernel & kWrite) != 0) Put(&changes[n++], reg, EVFILT_WRITE, false);
    return Submit(reg, changes, n, error);
  }

  int Wait(int timeout_ms, int max_events, std::vector<Event>& out) {
    if (kernel_.size() < static_cast<size_t>(max_events)) {
      kernel_.resize(static_cast<size_t>(max_events));
    }
    out.clear();
    struct timespec ts;
    struct timespec* timeout = nullptr;
    if (timeout_ms >= 0) {
      ts.tv_sec = static_cast<time_t>(timeout_ms / 1000);
      ts.tv_nsec = static_cast<long>((timeout_ms % 1000) * 1000000L);
      timeout = &ts;
    }
    int n = ::kevent(kq_, nullptr, 0, kernel_.data(), max_events, timeout);
    if (n < 0) return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++) {
      const struct kevent& kev = kernel_[static_cast<size_t>(i)];
      unsigned readiness = 0;
      if (kev.filter == EVFILT_READ) readiness |= poller::kReadable;
      if (kev.filter == EVFILT_WRITE) readiness |= poller::kWritable;
      if ((kev.flags & EV_EOF) != 0) readiness |= poller::kHangup;
      if ((kev.flags & EV_ERROR) != 0) readiness |= poller::kError;
      out.push_back(Event{static_cast<int>(kev.ident), Tag(kev), readiness});
    }
    return n;
  }

 private:
  enum : unsigned { kRead = 1, kWrite = 2 };

  // The field types differ between the BSDs (NetBSD: uint32_t filter/flags, intptr_t or void*
  // udata), hence the decltype casts instead of EV_SET.
  static void Put(struct kevent* kev, const Registration& reg, int filter, bool add) {
    *kev = {};  // also zeroes FreeBSD's ext[]
    kev->ident = static_cast<uintptr_t>(reg.fd);
    kev->filter = static_cast<decltype(kev->filter)>(filter);
    kev->flags = static_cast<decltype(kev->flags)>((add ? EV_ADD : EV_DELETE) | EV_RECEIPT);
    kev->udata = reinterpret_cast<decltype(kev->udata)>(static_cast<intptr_t>(reg.tag));
  }

  static uint32_t Tag(const struct kevent& kev) {
    return static_cast<uint32_t>(reinterpret_cast<intptr_t>(kev.udata));
  }

  // Submits `n` changes for reg.fd in one call and reads the receipts back into reg.kernel.
  int Submit(Registration& reg, struct kevent* changes, int n, std::string* error) {
    if (n == 0) return 0;
    struct kevent receipts[2];
    const struct timespec zero = {0, 0};
    int rc = ::kevent(kq_, changes, n, receipts, n, &zero);
    if (rc < 0) {
      if (errno == EINTR) {
        // "When kevent() call fails with EINTR error, all changes in the changelist have been
        // applied" (kqueue(2)); only the receipts are lost.
        for (int i = 0; i < n; i++)
          Record(reg, changes[i].filter, (changes[i].flags & EV_ADD) != 0);
        return 0;
      }
      int err = errno;
      *error = poller::FdDetail("kevent", "cannot change the filters of", reg.fd);
      return -err;
    }
    int failure = 0;
    for (int i = 0; i < rc; i++) {
      const struct kevent& receipt = receipts[i];
      if ((receipt.flags & EV_ERROR) == 0) continue;  // not a receipt
      bool adding = false;
      for (int j = 0; j < n; j++) {
        if (changes[j].filter == receipt.filter) adding = (changes[j].flags & EV_ADD) != 0;
      }
      const int err = static_cast<int>(receipt.data);
      // Deleting what the kernel no longer has (never added, or dropped at close()) is done.
      if (err == 0 || (!adding && (err == ENOENT || err == EBADF))) {
        Record(reg, receipt.filter, adding);
      } else if (failure == 0) {
        failure = err;
        *error = std::string("kevent(") +
                 (receipt.filter == EVFILT_READ ? "EVFILT_READ" : "EVFILT_WRITE") + ", " +
                 (adding ? "EV_ADD" : "EV_DELETE") + "): on fd " + std::to_string(reg.fd);
      }
    }
    return failure == 0 ? 0 : -failure;
  }

  static void Record(Registration& reg, int filter, bool present) {
    const unsigned bit = filter == EVFILT_READ ? kRead : kWrite;
    if (present) {
      reg.kernel |= bit;
    } else {
      reg.kernel &= ~bit;
    }
  }

  int kq_ = -1;
  std::vector<struct kevent> kernel_;
};

inline Napi::Object Init(Napi::Env env, Napi::Object exports) {
  return poller::InitAddon<KqueueBackend>(env, exports);
}

}  // namespace kqueue_backend
}  // namespace multisock

// The test tree's addon compiles this file into its own module, with the emulation's extras.
#ifndef MULTISOCK_KQUEUE_NO_MODULE
NODE_API_MODULE(multisock_kqueue, multisock::kqueue_backend::Init)
#endif
