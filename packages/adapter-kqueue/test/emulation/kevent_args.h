// The JS side of the kevent backend interface, shared by the real backend (native/kqueue.cc)
// and the test tree's emulation over epoll (test/emulation/emulation.cc), so both check their
// input the same way. Native code never trusts JS input: every argument is checked here and
// refused with a TypeError/RangeError naming what was wrong.
//
// A kevent crosses as 6 int32 in an Int32Array: ident, filter, flags, fflags, data, udata.
// `data` is clamped to int32 on the way out; `udata` is the adapter's 32-bit generation tag.
#pragma once

#include <stdint.h>

#include <cmath>
#include <string>

#include <napi.h>

namespace kevent_args {

constexpr size_t kFields = 6;
constexpr int32_t kMaxEvents = 1 << 16;  // per call, changes and events alike

enum Field : size_t { kIdent = 0, kFilter = 1, kFlags = 2, kFflags = 3, kData = 4, kUdata = 5 };

// Argument `index` as an integer in [min, max], or a TypeError/RangeError naming it.
inline int64_t Int(const Napi::CallbackInfo& info, size_t index, const char* name, int64_t min,
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

// Argument `index` as an Int32Array, or a TypeError naming it.
inline Napi::Int32Array Records(const Napi::CallbackInfo& info, size_t index, const char* name) {
  if (index < info.Length() && info[index].IsTypedArray()) {
    Napi::TypedArray array = info[index].As<Napi::TypedArray>();
    if (array.TypedArrayType() == napi_int32_array) return array.As<Napi::Int32Array>();
  }
  throw Napi::TypeError::New(info.Env(), std::string(name) + " must be an Int32Array");
}

// A record count for `array`: an integer in [0, kMaxEvents] that fits in it.
inline int32_t Count(const Napi::CallbackInfo& info, size_t index, const char* name,
                     const Napi::Int32Array& array) {
  int32_t count = static_cast<int32_t>(Int(info, index, name, 0, kMaxEvents));
  if (static_cast<size_t>(count) * kFields > array.ElementLength()) {
    throw Napi::RangeError::New(info.Env(), std::string(name) + " (" + std::to_string(count) +
                                                ") needs " + std::to_string(count * kFields) +
                                                " int32 slots; the array has " +
                                                std::to_string(array.ElementLength()));
  }
  return count;
}

// What both backends refuse in a change: a negative ident (not a descriptor) and any flag but
// the five the adapter uses. EV_CLEAR, EV_ONESHOT and EV_DISPATCH change the delivery model and
// libcurl needs level-triggered readiness (docs/contract.md#level-triggered).
inline void CheckChange(Napi::Env env, const int32_t* record, size_t i, int32_t allowed_flags) {
  if (record[kIdent] < 0) {
    throw Napi::RangeError::New(env, "changes[" + std::to_string(i) +
                                         "].ident must be a descriptor (>= 0), got " +
                                         std::to_string(record[kIdent]));
  }
  if ((record[kFlags] & ~allowed_flags) != 0) {
    throw Napi::RangeError::New(env,
                                "changes[" + std::to_string(i) +
                                    "].flags has bits outside EV_ADD|EV_DELETE|EV_RECEIPT "
                                    "(EV_CLEAR/EV_ONESHOT/EV_DISPATCH are refused: " +
                                    "level-triggered only): " + std::to_string(record[kFlags]));
  }
}

inline int32_t ClampToInt32(int64_t v) {
  if (v > INT32_MAX) return INT32_MAX;
  if (v < INT32_MIN) return INT32_MIN;
  return static_cast<int32_t>(v);
}

}  // namespace kevent_args
