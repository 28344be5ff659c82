// The thin syscall layer of @multisock/adapter-epoll: epoll_create1/epoll_ctl/epoll_wait and
// timerfd, nothing else. Every policy (what-bits mapping, generations, timers) lives in
// src/index.ts. Native code never trusts JS input: every argument is checked here and refused
// with a TypeError/RangeError naming what was wrong.
//
// Resource rule: each object owns one fd. It is closed by close(), by the garbage collector
// (ObjectWrap destructor) or, whichever comes first, by an env cleanup hook when the Node
// environment (main thread or worker) is torn down.

#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cmath>
#include <string>
#include <vector>

// Once worker.terminate() is under way, a refused argument's napi_throw fails; node-addon-api
// would then throw a C++ exception out of the callback and std::terminate the whole process.
#define NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS
#include <napi.h>

namespace {

// Bits a level-triggered registration may carry. EPOLLET/EPOLLONESHOT (and EPOLLEXCLUSIVE,
// EPOLLWAKEUP) change the delivery model; libcurl needs level-triggered readiness because it
// may leave data in the kernel after one call (CONTRACT statement 29).
constexpr uint32_t kLevelBits = EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLRDNORM | EPOLLRDBAND |
                                EPOLLWRNORM | EPOLLWRBAND | EPOLLMSG | EPOLLERR | EPOLLHUP |
                                EPOLLRDHUP;
constexpr uint32_t kModeBits = EPOLLET | EPOLLONESHOT;
constexpr int kMaxEventsLimit = 1 << 16;

// Reads argument `index` as an integer in [min, max], or throws a TypeError/RangeError that
// names the argument.
int64_t IntArg(const Napi::CallbackInfo& info, size_t index, const char* name, int64_t min,
               int64_t max) {
  Napi::Env env = info.Env();
  if (index >= info.Length() || !info[index].IsNumber()) {
    throw Napi::TypeError::New(env, std::string(name) + " must be a number");
  }
  double v = info[index].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(v) || std::trunc(v) != v) {
    throw Napi::RangeError::New(env, std::string(name) + " must be an integer");
  }
  if (v < static_cast<double>(min) || v > static_cast<double>(max)) {
    throw Napi::RangeError::New(env, std::string(name) + " must be between " + std::to_string(min) +
                                         " and " + std::to_string(max));
  }
  return static_cast<int64_t>(v);
}

// Node-API checks the receiver of methods but not of accessors, and napi_unwrap hands back
// whatever native object any addon wrapped: Reflect.get(Epoll.prototype, 'fd', other) would
// read `other` as an Epoll. Only an object with the class's type tag is one.
constexpr napi_type_tag kEpollTag = {0x6d756c7469736f63, 0x6b2d65706f6c6c01};
constexpr napi_type_tag kTimerfdTag = {0x6d756c7469736f63, 0x6b2d74696d657201};

void CheckReceiver(const Napi::CallbackInfo& info, const napi_type_tag& tag) {
  if (!info.This().IsObject() || !info.This().As<Napi::Object>().CheckTypeTag(&tag)) {
    throw Napi::TypeError::New(info.Env(), "Illegal invocation");
  }
}

// One owned fd plus the env cleanup hook that closes it when the environment goes away
// (worker termination, process exit) before JS or the GC did.
class OwnedFd {
 public:
  OwnedFd() = default;
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  ~OwnedFd() { Close(); }

  void Adopt(napi_env env, int fd) {
    fd_ = fd;
    env_ = env;
    if (napi_add_env_cleanup_hook(env, OnEnvTeardown, this) == napi_ok) hooked_ = true;
  }
  int get() const { return fd_; }
  bool open() const { return fd_ >= 0; }
  void Close() {
    if (hooked_) {
      napi_remove_env_cleanup_hook(env_, OnEnvTeardown, this);
      hooked_ = false;
    }
    if (fd_ >= 0) {
      // On Linux the fd is released even when close() reports EINTR: never retry.
      ::close(fd_);
      fd_ = -1;
    }
  }

 private:
  static void OnEnvTeardown(void* self) {
    auto* owned = static_cast<OwnedFd*>(self);
    owned->hooked_ = false;  // the hook is consumed; do not remove it again
    owned->Close();
  }
  int fd_ = -1;
  napi_env env_ = nullptr;
  bool hooked_ = false;
};

class Epoll : public Napi::ObjectWrap<Epoll> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Epoll",
                       {
                           InstanceAccessor<&Epoll::GetFd>("fd", napi_enumerable),
                           InstanceAccessor<&Epoll::GetClosed>("closed", napi_enumerable),
                           InstanceAccessor<&Epoll::GetMaxEvents>("maxEvents", napi_enumerable),
                           InstanceMethod<&Epoll::Ctl>("ctl"),
                           InstanceMethod<&Epoll::Wait>("wait"),
                           InstanceMethod<&Epoll::Close>("close"),
                       });
  }

  explicit Epoll(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Epoll>(info) {
    Napi::Env env = info.Env();
    max_events_ = static_cast<int>(IntArg(info, 0, "maxEvents", 1, kMaxEventsLimit));
    int fd = epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) throw Napi::Error::New(env, ErrnoMessage("epoll_create1", errno));
    fd_.Adopt(env, fd);
    kernel_events_.resize(static_cast<size_t>(max_events_));
    // Results go into one preallocated Uint32Array shared with JS (fd, tag, events per entry),
    // so a batch costs one crossing and no allocation.
    auto buffer = Napi::ArrayBuffer::New(env, static_cast<size_t>(max_events_) * 3 * 4);
    auto events = Napi::Uint32Array::New(env, static_cast<size_t>(max_events_) * 3, buffer, 0);
    buffer_ref_ = Napi::Persistent(buffer);
    info.This().As<Napi::Object>().DefineProperty(
        Napi::PropertyDescriptor::Value("events", events, napi_enumerable));
    info.This().As<Napi::Object>().TypeTag(&kEpollTag);
  }

 private:
  static std::string ErrnoMessage(const char* call, int err) {
    return std::string(call) + " failed: " + strerror(err);
  }

  void RequireOpen(Napi::Env env) {
    if (!fd_.open()) throw Napi::Error::New(env, "Epoll is closed");
  }

  Napi::Value GetFd(const Napi::CallbackInfo& info) {
    CheckReceiver(info, kEpollTag);
    return Napi::Number::New(info.Env(), fd_.get());
  }
  Napi::Value GetClosed(const Napi::CallbackInfo& info) {
    CheckReceiver(info, kEpollTag);
    return Napi::Boolean::New(info.Env(), !fd_.open());
  }
  Napi::Value GetMaxEvents(const Napi::CallbackInfo& info) {
    CheckReceiver(info, kEpollTag);
    return Napi::Number::New(info.Env(), max_events_);
  }

  // ctl(op, fd, events, tag): 0 or -errno. data.u64 = fd | tag << 32 (tag: a generation the TS
  // uses to drop events for an fd removed or re-added earlier in the same batch).
  Napi::Value Ctl(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    int op = static_cast<int>(IntArg(info, 0, "op", 1, 3));
    int fd = static_cast<int>(IntArg(info, 1, "fd", 0, INT32_MAX));
    // int32 values are accepted too: JS bitwise OR yields EPOLLIN | EPOLLET as a negative number.
    uint32_t events = static_cast<uint32_t>(IntArg(info, 2, "events", INT32_MIN, UINT32_MAX));
    uint32_t tag = static_cast<uint32_t>(IntArg(info, 3, "tag", 0, UINT32_MAX));
    if (events & kModeBits) {
      throw Napi::RangeError::New(
          env,
          "events must not contain EPOLLET or EPOLLONESHOT: registrations are level-triggered");
    }
    if (events & ~kLevelBits) {
      throw Napi::RangeError::New(env, "events contains bits that are not EPOLL* readiness bits");
    }
    struct epoll_event ev = {};
    ev.events = events;
    ev.data.u64 =
        static_cast<uint64_t>(static_cast<uint32_t>(fd)) | (static_cast<uint64_t>(tag) << 32);
    int rc = epoll_ctl(fd_.get(), op, fd, &ev);
    return Napi::Number::New(env, rc == 0 ? 0 : -errno);
  }

  // wait(timeoutMs): number of events written into `events`, 0 on EINTR, or -errno.
  Napi::Value Wait(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    int timeout = static_cast<int>(IntArg(info, 0, "timeoutMs", -1, INT32_MAX));
    // JS could have detached (transferred) the buffer; never write through a stale pointer.
    Napi::ArrayBuffer buffer = buffer_ref_.Value();
    if (buffer.IsDetached() || buffer.ByteLength() < static_cast<size_t>(max_events_) * 12) {
      throw Napi::Error::New(env, "Epoll events buffer was detached");
    }
    int n = epoll_wait(fd_.get(), kernel_events_.data(), max_events_, timeout);
    if (n < 0) return Napi::Number::New(env, errno == EINTR ? 0 : -errno);
    auto* out = static_cast<uint32_t*>(buffer.Data());
    for (int i = 0; i < n; i++) {
      uint64_t data = kernel_events_[static_cast<size_t>(i)].data.u64;
      out[i * 3] = static_cast<uint32_t>(data);
      out[i * 3 + 1] = static_cast<uint32_t>(data >> 32);
      out[i * 3 + 2] = kernel_events_[static_cast<size_t>(i)].events;
    }
    return Napi::Number::New(env, n);
  }

  // Idempotent: closing twice is harmless.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    fd_.Close();
    return info.Env().Undefined();
  }

  OwnedFd fd_;
  int max_events_ = 0;
  std::vector<struct epoll_event> kernel_events_;
  Napi::Reference<Napi::ArrayBuffer> buffer_ref_;
};

class Timerfd : public Napi::ObjectWrap<Timerfd> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Timerfd",
                       {
                           InstanceAccessor<&Timerfd::GetFd>("fd", napi_enumerable),
                           InstanceAccessor<&Timerfd::GetClosed>("closed", napi_enumerable),
                           InstanceMethod<&Timerfd::Set>("set"),
                           InstanceMethod<&Timerfd::Disarm>("disarm"),
                           InstanceMethod<&Timerfd::Drain>("drain"),
                           InstanceMethod<&Timerfd::Close>("close"),
                       });
  }

  explicit Timerfd(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Timerfd>(info) {
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (fd < 0) {
      throw Napi::Error::New(info.Env(), std::string("timerfd_create failed: ") + strerror(errno));
    }
    fd_.Adopt(info.Env(), fd);
    info.This().As<Napi::Object>().TypeTag(&kTimerfdTag);
  }

 private:
  void RequireOpen(Napi::Env env) {
    if (!fd_.open()) throw Napi::Error::New(env, "Timerfd is closed");
  }
  void Arm(Napi::Env env, const struct itimerspec& spec) {
    if (timerfd_settime(fd_.get(), 0, &spec, nullptr) != 0) {
      throw Napi::Error::New(env, std::string("timerfd_settime failed: ") + strerror(errno));
    }
  }

  Napi::Value GetFd(const Napi::CallbackInfo& info) {
    CheckReceiver(info, kTimerfdTag);
    return Napi::Number::New(info.Env(), fd_.get());
  }
  Napi::Value GetClosed(const Napi::CallbackInfo& info) {
    CheckReceiver(info, kTimerfdTag);
    return Napi::Boolean::New(info.Env(), !fd_.open());
  }

  // set(ms): one-shot expiry ms from now. 0 becomes 1 ns, because an all-zero it_value disarms
  // (CONTRACT (c), timer row).
  Napi::Value Set(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    int64_t ms = IntArg(info, 0, "ms", 0, INT32_MAX);
    struct itimerspec spec = {};
    spec.it_value.tv_sec = static_cast<time_t>(ms / 1000);
    spec.it_value.tv_nsec = static_cast<long>((ms % 1000) * 1000000);
    if (ms == 0) spec.it_value.tv_nsec = 1;
    Arm(env, spec);
    return env.Undefined();
  }

  Napi::Value Disarm(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    struct itimerspec spec = {};
    Arm(env, spec);
    return env.Undefined();
  }

  // drain(): the number of expirations since the last drain (0 if none), so a level-triggered
  // registration stops reporting the fd readable.
  Napi::Value Drain(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    uint64_t expirations = 0;
    ssize_t n;
    do {
      n = read(fd_.get(), &expirations, sizeof expirations);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno == EAGAIN) return Napi::Number::New(env, 0);
      throw Napi::Error::New(env, std::string("timerfd read failed: ") + strerror(errno));
    }
    return Napi::Number::New(env, static_cast<double>(expirations));
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    fd_.Close();
    return info.Env().Undefined();
  }

  OwnedFd fd_;
};

Napi::Object Constants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
  auto set = [&](const char* name, double value) { c.Set(name, Napi::Number::New(env, value)); };
  set("EPOLL_CTL_ADD", EPOLL_CTL_ADD);
  set("EPOLL_CTL_DEL", EPOLL_CTL_DEL);
  set("EPOLL_CTL_MOD", EPOLL_CTL_MOD);
  set("EPOLLIN", EPOLLIN);
  set("EPOLLPRI", EPOLLPRI);
  set("EPOLLOUT", EPOLLOUT);
  set("EPOLLERR", EPOLLERR);
  set("EPOLLHUP", EPOLLHUP);
  set("EPOLLRDHUP", EPOLLRDHUP);
  set("EPOLLET", static_cast<uint32_t>(EPOLLET));
  set("EPOLLONESHOT", EPOLLONESHOT);
  set("EPERM", EPERM);
  set("ENOENT", ENOENT);
  set("EINTR", EINTR);
  set("EBADF", EBADF);
  set("ENOMEM", ENOMEM);
  set("EEXIST", EEXIST);
  set("EINVAL", EINVAL);
  set("ENOSPC", ENOSPC);
  set("ELOOP", ELOOP);
  c.Freeze();
  return c;
}

class EpollAddon : public Napi::Addon<EpollAddon> {
 public:
  EpollAddon(Napi::Env env, Napi::Object exports) {
    DefineAddon(exports, {
                             InstanceValue("Epoll", Epoll::Init(env), napi_enumerable),
                             InstanceValue("Timerfd", Timerfd::Init(env), napi_enumerable),
                             InstanceValue("constants", Constants(env), napi_enumerable),
                         });
  }
};

}  // namespace

NODE_API_ADDON(EpollAddon)
