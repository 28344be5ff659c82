#include "addon.h"

#include <cmath>
#include <string>

#include "poll.h"
#include "timer.h"

namespace multisock {

Addon::Addon(Napi::Env env, Napi::Object exports) : handles_(env) {
  if (handles_.loop() == nullptr) {
    throw Napi::Error::New(env, "napi_get_uv_event_loop failed");
  }
  callback_key_ = Napi::Persistent(Napi::Symbol::New(env, "callback"));
  DefineAddon(exports, {
                           InstanceMethod("setErrorClass", &Addon::SetErrorClass),
                           InstanceMethod("errName", &Addon::ErrName),
                           InstanceMethod("strError", &Addon::StrError),
                           InstanceMethod("openHandleCount", &Addon::OpenHandleCount),
                           InstanceValue("Poll", Poll::Init(env), napi_enumerable),
                           InstanceValue("Timer", Timer::Init(env), napi_enumerable),
                       });
}

Napi::Error Addon::UvError(Napi::Env env, int status, const char* syscall) const {
  if (uv_error_.IsEmpty()) {
    return Napi::Error::New(env, std::string(syscall) + ": " + uv_strerror(status));
  }
  Napi::Value error =
      uv_error_.New({Napi::Number::New(env, status), Napi::String::New(env, syscall)});
  return Napi::Error(env, error);
}

Napi::Value Addon::SetErrorClass(const Napi::CallbackInfo& info) {
  uv_error_ = Napi::Persistent(ArgFunction(info[0], "setErrorClass: UvError"));
  return info.Env().Undefined();
}

static int ArgStatus(const Napi::Value& value) {
  return ArgInt32(value, "errno", INT32_MIN, -1);
}

Napi::Value Addon::ErrName(const Napi::CallbackInfo& info) {
  char name[64];
  uv_err_name_r(ArgStatus(info[0]), name, sizeof name);  // uv_err_name leaks on unknown codes
  return Napi::String::New(info.Env(), name);
}

Napi::Value Addon::StrError(const Napi::CallbackInfo& info) {
  char message[256];
  uv_strerror_r(ArgStatus(info[0]), message, sizeof message);
  return Napi::String::New(info.Env(), message);
}

Napi::Value Addon::OpenHandleCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(handles_.open()));
}

static const char* TypeName(const Napi::Value& value) {
  switch (value.Type()) {
    case napi_undefined:
      return "undefined";
    case napi_null:
      return "null";
    case napi_boolean:
      return "boolean";
    case napi_number:
      return "number";
    case napi_string:
      return "string";
    case napi_symbol:
      return "symbol";
    case napi_function:
      return "function";
    case napi_bigint:
      return "bigint";
    default:
      return "object";
  }
}

static double ArgNumber(const Napi::Value& value, const char* what) {
  if (!value.IsNumber()) {
    throw Napi::TypeError::New(value.Env(),
                               std::string(what) + " must be a number, got " + TypeName(value));
  }
  return value.As<Napi::Number>().DoubleValue();
}

static Napi::Error OutOfRange(const Napi::Value& value, const char* what, const char* range) {
  return Napi::RangeError::New(value.Env(), std::string(what) + " must be " + range + ", got " +
                                                value.ToString().Utf8Value());
}

int32_t ArgInt32(const Napi::Value& value, const char* what, int32_t min, int32_t max) {
  double number = ArgNumber(value, what);
  if (!(number >= min && number <= max) || std::trunc(number) != number) {
    std::string range = "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
    throw OutOfRange(value, what, range.c_str());
  }
  return static_cast<int32_t>(number);
}

uint64_t ArgSafeUint(const Napi::Value& value, const char* what) {
  double number = ArgNumber(value, what);
  if (!(number >= 0 && number <= 9007199254740991.0) || std::trunc(number) != number) {
    throw OutOfRange(value, what, "a non-negative safe integer");
  }
  return static_cast<uint64_t>(number);
}

Napi::Function ArgFunction(const Napi::Value& value, const char* what) {
  if (!value.IsFunction()) {
    throw Napi::TypeError::New(value.Env(),
                               std::string(what) + " must be a function, got " + TypeName(value));
  }
  return value.As<Napi::Function>();
}

}  // namespace multisock

using multisock::Addon;
NODE_API_ADDON(Addon)
