// The thin syscall layer of @multisock/adapter-kqueue: kqueue(), kevent() and close(), nothing
// else. Every policy (what-bits -> filters, generations, timers) lives in src/index.ts.
// Built only where the OS has kqueue (binding.gyp); the same interface is emulated over epoll
// in test/emulation/ so the adapter's logic also runs on Linux.
//
//   kqueue(): fd | -errno                     a new kqueue, close-on-exec
//   kevent(kq, changes, nchanges, events, nevents, timeoutMs): count | -errno
//                                             one kevent(2) call; -1 = no time limit
//   close(kq): 0 | -errno                     only for a kqueue made here
//
// Only kqueue fds this addon instance made are accepted, so JS cannot close or use any other
// descriptor through it; those still open when the environment (main thread or worker) is torn
// down are closed then.

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/event.h>
#include <sys/time.h>
#include <sys/types.h>
#include <unistd.h>

#include <string>
#include <unordered_set>
#include <vector>

#include <napi.h>

#include "kevent_args.h"

#ifndef EV_RECEIPT
#error "this kqueue has no EV_RECEIPT (FreeBSD 8.1+, macOS 10.5+, OpenBSD 6.0+, NetBSD 10+)"
#endif

namespace {

using kevent_args::kFields;
namespace field = kevent_args;

constexpr int32_t kAllowedFlags = EV_ADD | EV_DELETE | EV_ENABLE | EV_DISABLE | EV_RECEIPT;

class KqueueAddon : public Napi::Addon<KqueueAddon> {
 public:
  KqueueAddon(Napi::Env env, Napi::Object exports) {
    Napi::Object constants = Napi::Object::New(env);
    auto set = [&](const char* name, int64_t value) {
      constants.Set(name, Napi::Number::New(env, static_cast<double>(value)));
    };
    set("EVFILT_READ", EVFILT_READ);
    set("EVFILT_WRITE", EVFILT_WRITE);
    set("EV_ADD", EV_ADD);
    set("EV_DELETE", EV_DELETE);
    set("EV_ENABLE", EV_ENABLE);
    set("EV_DISABLE", EV_DISABLE);
    set("EV_RECEIPT", EV_RECEIPT);
    set("EV_EOF", EV_EOF);
    set("EV_ERROR", EV_ERROR);
    set("ENOENT", ENOENT);
    set("EBADF", EBADF);
    set("EINTR", EINTR);
    set("EINVAL", EINVAL);
    constants.Freeze();
    DefineAddon(exports, {
                             InstanceMethod("kqueue", &KqueueAddon::Kqueue),
                             InstanceMethod("kevent", &KqueueAddon::Kevent),
                             InstanceMethod("close", &KqueueAddon::Close),
                             InstanceValue("constants", constants, napi_enumerable),
                         });
  }

  // Env teardown: nothing of this environment may keep a kqueue open.
  ~KqueueAddon() {
    for (int fd : kqueues_) ::close(fd);
  }

 private:
  Napi::Value Kqueue(const Napi::CallbackInfo& info) {
    int fd = ::kqueue();
    if (fd < 0) return Napi::Number::New(info.Env(), -errno);
    // Not every BSD has kqueue1/kqueuex; a kqueue is never inherited by fork anyway, and
    // FD_CLOEXEC keeps it out of exec'd programs.
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    kqueues_.insert(fd);
    return Napi::Number::New(info.Env(), fd);
  }

  int Owned(const Napi::CallbackInfo& info, const char* name) {
    int fd = static_cast<int>(kevent_args::Int(info, 0, name, 0, INT32_MAX));
    if (kqueues_.count(fd) == 0) {
      throw Napi::RangeError::New(info.Env(), std::string(name) + " " + std::to_string(fd) +
                                                  " is not an open kqueue made by this backend");
    }
    return fd;
  }

  Napi::Value Kevent(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int kq = Owned(info, "kevent: kq");
    Napi::Int32Array changes = kevent_args::Records(info, 1, "kevent: changes");
    int32_t nchanges = kevent_args::Count(info, 2, "kevent: nchanges", changes);
    Napi::Int32Array events = kevent_args::Records(info, 3, "kevent: events");
    int32_t nevents = kevent_args::Count(info, 4, "kevent: nevents", events);
    int64_t timeout_ms = kevent_args::Int(info, 5, "kevent: timeoutMs", -1, INT32_MAX);

    change_buf_.resize(static_cast<size_t>(nchanges));
    for (int32_t i = 0; i < nchanges; i++) {
      const int32_t* r = changes.Data() + static_cast<size_t>(i) * kFields;
      kevent_args::CheckChange(env, r, static_cast<size_t>(i), kAllowedFlags);
      struct kevent& kev = change_buf_[static_cast<size_t>(i)];
      kev = {};  // also zeroes FreeBSD's ext[]
      // The field types differ between the BSDs (NetBSD: uint32_t filter/flags, intptr_t or
      // void* udata), hence the decltype casts instead of EV_SET.
      kev.ident = static_cast<uintptr_t>(r[field::kIdent]);
      kev.filter = static_cast<decltype(kev.filter)>(r[field::kFilter]);
      kev.flags = static_cast<decltype(kev.flags)>(r[field::kFlags]);
      kev.fflags = static_cast<decltype(kev.fflags)>(static_cast<uint32_t>(r[field::kFflags]));
      kev.data = static_cast<decltype(kev.data)>(r[field::kData]);
      kev.udata = reinterpret_cast<decltype(kev.udata)>(static_cast<intptr_t>(r[field::kUdata]));
    }
    event_buf_.resize(static_cast<size_t>(nevents));

    struct timespec ts;
    struct timespec* timeout = nullptr;
    if (timeout_ms >= 0) {
      ts.tv_sec = static_cast<time_t>(timeout_ms / 1000);
      ts.tv_nsec = static_cast<long>((timeout_ms % 1000) * 1000000);
      timeout = &ts;
    }
    int n = ::kevent(kq, change_buf_.data(), nchanges, event_buf_.data(), nevents, timeout);
    if (n < 0) return Napi::Number::New(env, -errno);

    int32_t* out = events.Data();
    for (int i = 0; i < n; i++) {
      const struct kevent& kev = event_buf_[static_cast<size_t>(i)];
      int32_t* r = out + static_cast<size_t>(i) * kFields;
      r[field::kIdent] = kevent_args::ClampToInt32(static_cast<int64_t>(kev.ident));
      r[field::kFilter] = static_cast<int32_t>(kev.filter);
      r[field::kFlags] = static_cast<int32_t>(kev.flags);
      r[field::kFflags] = static_cast<int32_t>(static_cast<uint32_t>(kev.fflags));
      r[field::kData] = kevent_args::ClampToInt32(static_cast<int64_t>(kev.data));
      r[field::kUdata] = static_cast<int32_t>(reinterpret_cast<intptr_t>(kev.udata));
    }
    return Napi::Number::New(env, n);
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    int kq = Owned(info, "close: kq");
    kqueues_.erase(kq);
    // The descriptor is released even when close() reports EINTR: never retry.
    int rc = ::close(kq);
    return Napi::Number::New(info.Env(), rc == 0 ? 0 : -errno);
  }

  std::unordered_set<int> kqueues_;
  std::vector<struct kevent> change_buf_;
  std::vector<struct kevent> event_buf_;
};

}  // namespace

NODE_API_ADDON(KqueueAddon)
