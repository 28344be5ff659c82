// Real fds for the scripted driver's tests, and a look at Node's loop, TEST ONLY: what Node's
// own API cannot do (socketpair, writing to and draining a raw fd) and what only libuv can tell
// (the handles open on the loop, whoever opened them).
#include "fds.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

namespace testkit {
namespace {

int ToFd(const Napi::Value& value, const char* where) {
  if (!value.IsNumber()) throw Napi::TypeError::New(value.Env(), std::string(where) + ": fd");
  const double d = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::trunc(d) != d || d < 0 || d > INT32_MAX) {
    throw Napi::RangeError::New(value.Env(), std::string(where) + ": fd must be an fd number");
  }
  return static_cast<int>(d);
}

Napi::Error Errno(Napi::Env env, const char* call) {
  return Napi::Error::New(env, std::string(call) + ": " + strerror(errno));
}

// socketpair(): [a, b], a connected AF_UNIX stream pair, non-blocking, close-on-exec.
Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
    throw Errno(env, "socketpair");
  }
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, fds[0]);
  out.Set(1u, fds[1]);
  return out;
}

// writeBytes(fd, n): writes n bytes (fewer if the socket's buffer fills); returns how many.
Napi::Value WriteBytes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = ToFd(info[0], "writeBytes");
  if (!info[1].IsNumber()) throw Napi::TypeError::New(env, "writeBytes: n must be a number");
  const double n = info[1].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(n) || std::trunc(n) != n || n < 1 || n > (1 << 24)) {
    throw Napi::RangeError::New(env, "writeBytes: n must be an integer from 1 to 2^24");
  }
  static const char kChunk[4096] = {'x'};
  double written = 0;
  while (written < n) {
    const size_t want = static_cast<size_t>(std::min<double>(sizeof(kChunk), n - written));
    const ssize_t rc = ::write(fd, kChunk, want);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (rc < 0) throw Errno(env, "write");
    written += static_cast<double>(rc);
  }
  return Napi::Number::New(env, written);
}

// fill(fd): writes until the socket's buffer is full (it stops polling writable).
Napi::Value Fill(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = ToFd(info[0], "fill");
  static const char kChunk[65536] = {'f'};
  double written = 0;
  for (;;) {
    const ssize_t rc = ::write(fd, kChunk, sizeof(kChunk));
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (rc < 0) throw Errno(env, "write");
    written += static_cast<double>(rc);
  }
  return Napi::Number::New(env, written);
}

// drain(fd): reads everything there is; returns how many bytes.
Napi::Value Drain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = ToFd(info[0], "drain");
  char buffer[65536];
  double read = 0;
  for (;;) {
    const ssize_t rc = ::read(fd, buffer, sizeof(buffer));
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (rc < 0) throw Errno(env, "read");
    if (rc == 0) break;
    read += static_cast<double>(rc);
  }
  return Napi::Number::New(env, read);
}

// closeFd(fd).
Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (::close(ToFd(info[0], "closeFd")) != 0) throw Errno(env, "close");
  return env.Undefined();
}

// uvHandles(): every handle open on this thread's loop, from any addon or Node itself, as 4
// numbers each: [type (uv_handle_type), fd (-1 if none or closing), flags (1 active, 2 closing,
// 4 referenced), id (the handle's address)].
Napi::Value UvHandles(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    throw Napi::Error::New(env, "uvHandles: no uv loop");
  }
  std::vector<double> out;
  uv_walk(
      loop,
      [](uv_handle_t* handle, void* arg) {
        auto* list = static_cast<std::vector<double>*>(arg);
        uv_os_fd_t fd = -1;
        if (uv_is_closing(handle) || uv_fileno(handle, &fd) != 0) fd = -1;
        const int flags = (uv_is_active(handle) ? 1 : 0) | (uv_is_closing(handle) ? 2 : 0) |
                          (uv_has_ref(handle) ? 4 : 0);
        list->insert(list->end(), {static_cast<double>(handle->type), static_cast<double>(fd),
                                   static_cast<double>(flags),
                                   static_cast<double>(reinterpret_cast<uintptr_t>(handle))});
      },
      &out);
  Napi::Float64Array array = Napi::Float64Array::New(env, out.size());
  std::copy(out.begin(), out.end(), array.Data());
  return array;
}

}  // namespace

void InitFds(Napi::Env env, Napi::Object exports) {
  exports.Set("socketpair", Napi::Function::New(env, SocketPair, "socketpair"));
  exports.Set("writeBytes", Napi::Function::New(env, WriteBytes, "writeBytes"));
  exports.Set("fill", Napi::Function::New(env, Fill, "fill"));
  exports.Set("drain", Napi::Function::New(env, Drain, "drain"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
  exports.Set("uvHandles", Napi::Function::New(env, UvHandles, "uvHandles"));
  Napi::Object types = Napi::Object::New(env);
  types.Set("POLL", static_cast<double>(UV_POLL));
  types.Set("TIMER", static_cast<double>(UV_TIMER));
  types.Set("IDLE", static_cast<double>(UV_IDLE));
  types.Set("CHECK", static_cast<double>(UV_CHECK));
  exports.Set("uvHandleType", types);
}

}  // namespace testkit
