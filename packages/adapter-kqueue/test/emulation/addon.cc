// TEST ONLY: the adapter's own native/kqueue.cc compiled against the kqueue(2) emulation over
// epoll on Linux (emulation.cc, include/sys/event.h; MULTISOCK_KQUEUE_EMULATION), or against
// the real <sys/event.h> elsewhere, as one addon with the same exports as the package's (`loop`,
// `Reactor`), plus `emulation`: kqueue()/kevent() as JS functions for the emulation's own tests
// (which run unchanged against the real kqueue on macOS and the BSDs, keeping the emulation
// honest), and, emulated only, a record of every kevent() call the adapter made.
//
//   emulation.kqueue(): fd | -errno
//   emulation.kevent(kq, changes, nchanges, events, nevents, timeoutMs): count | -errno
//   emulation.close(kq): 0 | -errno        only for a kqueue made through emulation.kqueue()
//   emulation.record(on), emulation.take(): [{ kq, nevents, timeoutMs, rc, changes, events }]
#define MULTISOCK_KQUEUE_NO_MODULE
#include "../../native/kqueue.cc"

#include <mutex>
#include <string>
#include <unordered_set>

#include "kevent_args.h"

namespace {

using kevent_args::kFields;
namespace field = kevent_args;

constexpr int32_t kAllowedFlags = EV_ADD | EV_DELETE | EV_RECEIPT;

std::mutex owned_lock;
std::unordered_set<int> owned;  // kqueues made through emulation.kqueue(), not yet closed

int Owned(const Napi::CallbackInfo& info, const char* name) {
  int fd = static_cast<int>(kevent_args::Int(info, 0, name, 0, INT32_MAX));
  std::lock_guard<std::mutex> lock(owned_lock);
  if (owned.count(fd) == 0) {
    throw Napi::RangeError::New(info.Env(), std::string(name) + " " + std::to_string(fd) +
                                                " is not an open kqueue made by this backend");
  }
  return fd;
}

Napi::Value Kqueue(const Napi::CallbackInfo& info) {
  int fd = ::kqueue();
  if (fd < 0) return Napi::Number::New(info.Env(), -errno);
  std::lock_guard<std::mutex> lock(owned_lock);
  owned.insert(fd);
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value Kevent(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int kq = Owned(info, "kevent: kq");
  Napi::Int32Array changes = kevent_args::Records(info, 1, "kevent: changes");
  int32_t nchanges = kevent_args::Count(info, 2, "kevent: nchanges", changes);
  Napi::Int32Array events = kevent_args::Records(info, 3, "kevent: events");
  int32_t nevents = kevent_args::Count(info, 4, "kevent: nevents", events);
  int64_t timeout_ms = kevent_args::Int(info, 5, "kevent: timeoutMs", -1, INT32_MAX);
  std::vector<struct kevent> change_buf(static_cast<size_t>(nchanges));
  for (int32_t i = 0; i < nchanges; i++) {
    const int32_t* r = changes.Data() + static_cast<size_t>(i) * kFields;
    kevent_args::CheckChange(env, r, static_cast<size_t>(i), kAllowedFlags);
    struct kevent& kev = change_buf[static_cast<size_t>(i)];
    kev = {};
    kev.ident = static_cast<uintptr_t>(r[field::kIdent]);
    kev.filter = static_cast<short>(r[field::kFilter]);
    kev.flags = static_cast<unsigned short>(r[field::kFlags]);
    kev.fflags = static_cast<unsigned>(r[field::kFflags]);
    kev.data = r[field::kData];
    kev.udata = reinterpret_cast<void*>(static_cast<intptr_t>(r[field::kUdata]));
  }
  std::vector<struct kevent> event_buf(static_cast<size_t>(nevents) + 1);
  struct timespec ts;
  struct timespec* timeout = nullptr;
  if (timeout_ms >= 0) {
    ts.tv_sec = static_cast<time_t>(timeout_ms / 1000);
    ts.tv_nsec = static_cast<long>((timeout_ms % 1000) * 1000000);
    timeout = &ts;
  }
  int n = ::kevent(kq, change_buf.data(), nchanges, event_buf.data(), nevents, timeout);
  if (n < 0) return Napi::Number::New(env, -errno);
  int32_t* out = events.Data();
  for (int i = 0; i < n; i++) {
    const struct kevent& kev = event_buf[static_cast<size_t>(i)];
    int32_t* r = out + static_cast<size_t>(i) * kFields;
    r[field::kIdent] = kevent_args::ClampToInt32(static_cast<int64_t>(kev.ident));
    r[field::kFilter] = kev.filter;
    r[field::kFlags] = kev.flags;
    r[field::kFflags] = static_cast<int32_t>(kev.fflags);
    r[field::kData] = kevent_args::ClampToInt32(kev.data);
    r[field::kUdata] = static_cast<int32_t>(reinterpret_cast<intptr_t>(kev.udata));
  }
  return Napi::Number::New(env, n);
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  int kq = Owned(info, "close: kq");
  {
    std::lock_guard<std::mutex> lock(owned_lock);
    owned.erase(kq);
  }
  int rc = ::close(kq);  // the descriptor is released even on EINTR: never retry
  return Napi::Number::New(info.Env(), rc == 0 ? 0 : -errno);
}

#ifdef MULTISOCK_KQUEUE_EMULATION
Napi::Value Record(const Napi::CallbackInfo& info) {
  kqueue_emulation::Record(info.Length() > 0 && info[0].ToBoolean().Value());
  return info.Env().Undefined();
}

Napi::Object Kev(Napi::Env env, const struct kevent& kev) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("ident", Napi::Number::New(env, static_cast<double>(kev.ident)));
  o.Set("filter", Napi::Number::New(env, kev.filter));
  o.Set("flags", Napi::Number::New(env, kev.flags));
  o.Set("fflags", Napi::Number::New(env, kev.fflags));
  o.Set("data", Napi::Number::New(env, static_cast<double>(kev.data)));
  o.Set("udata",
        Napi::Number::New(env, static_cast<double>(reinterpret_cast<intptr_t>(kev.udata))));
  return o;
}

Napi::Value Take(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<kqueue_emulation::Call> calls = kqueue_emulation::Take();
  Napi::Array out = Napi::Array::New(env, calls.size());
  for (size_t i = 0; i < calls.size(); i++) {
    const kqueue_emulation::Call& call = calls[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("kq", Napi::Number::New(env, call.kq));
    o.Set("nevents", Napi::Number::New(env, call.nevents));
    o.Set("timeoutMs", Napi::Number::New(env, static_cast<double>(call.timeout_ms)));
    o.Set("rc", Napi::Number::New(env, call.rc));
    Napi::Array changes = Napi::Array::New(env, call.changes.size());
    for (size_t j = 0; j < call.changes.size(); j++) changes.Set(j, Kev(env, call.changes[j]));
    Napi::Array events = Napi::Array::New(env, call.events.size());
    for (size_t j = 0; j < call.events.size(); j++) events.Set(j, Kev(env, call.events[j]));
    o.Set("changes", changes);
    o.Set("events", events);
    out.Set(i, o);
  }
  return out;
}
#else
// The real kqueue (macOS, the BSDs): nothing records its calls.
Napi::Value Record(const Napi::CallbackInfo& info) {
  throw Napi::Error::New(info.Env(), "kevent() calls are recorded by the emulation only");
}
Napi::Value Take(const Napi::CallbackInfo& info) {
  return Record(info);
}
#endif

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  multisock::kqueue_backend::Init(env, exports);
  Napi::Object emulation = Napi::Object::New(env);
  Napi::Object constants = Napi::Object::New(env);
  auto set = [&](const char* name, int value) {
    constants.Set(name, Napi::Number::New(env, value));
  };
  set("EVFILT_READ", EVFILT_READ);
  set("EVFILT_WRITE", EVFILT_WRITE);
  set("EV_ADD", EV_ADD);
  set("EV_DELETE", EV_DELETE);
  set("EV_RECEIPT", EV_RECEIPT);
  set("EV_CLEAR", EV_CLEAR);
  set("EV_EOF", EV_EOF);
  set("EV_ERROR", EV_ERROR);
  set("ENOENT", ENOENT);
  set("EBADF", EBADF);
  set("EINTR", EINTR);
  set("EINVAL", EINVAL);
  constants.Freeze();
  emulation.Set("constants", constants);
  emulation.Set("kqueue", Napi::Function::New(env, Kqueue, "kqueue"));
  emulation.Set("kevent", Napi::Function::New(env, Kevent, "kevent"));
  emulation.Set("close", Napi::Function::New(env, Close, "close"));
  emulation.Set("record", Napi::Function::New(env, Record, "record"));
  emulation.Set("take", Napi::Function::New(env, Take, "take"));
  exports.Set("emulation", emulation);
  return exports;
}

}  // namespace

NODE_API_MODULE(multisock_kqueue_emulated, Init)
