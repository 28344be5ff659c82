#include "common.h"

#include <cmath>

namespace multisock {

AddonData& Data(Napi::Env env) {
  return *env.GetInstanceData<AddonData>();
}

const napi_type_tag kEasyTag = {0x6d756c7469736f63, 0x6b2d656173790001};
const napi_type_tag kMultiTag = {0x6d756c7469736f63, 0x6b2d6d756c746901};

bool HasTag(const Napi::Value& value, const napi_type_tag& tag) {
  return value.IsObject() && value.As<Napi::Object>().CheckTypeTag(&tag);
}

void JsValueRef::Set(Napi::Value value) {
  Napi::Array box = Napi::Array::New(value.Env(), 1);
  box.Set(0u, value);
  box_ = Napi::Persistent(box.As<Napi::Object>());
}

Napi::Value JsValueRef::Get(Napi::Env env) const {
  if (box_.IsEmpty()) return env.Null();
  return box_.Value().Get(0u);
}

const char* EasyCodeName(CURLcode code) {
  switch (code) {
#define MULTISOCK_EASY_CODE(name) \
  case CURLE_##name:              \
    return "CURLE_" #name;
#define MULTISOCK_MULTI_CODE(name)
#define MULTISOCK_INFO(name)
#define MULTISOCK_MULTI_OPTION(name, type)
#include "tables.inc"
#undef MULTISOCK_EASY_CODE
#undef MULTISOCK_MULTI_CODE
#undef MULTISOCK_INFO
#undef MULTISOCK_MULTI_OPTION
    default:
      return "CURLE_UNKNOWN";
  }
}

const char* MultiCodeName(CURLMcode code) {
  switch (code) {
#define MULTISOCK_MULTI_CODE(name) \
  case CURLM_##name:               \
    return "CURLM_" #name;
#define MULTISOCK_EASY_CODE(name)
#define MULTISOCK_INFO(name)
#define MULTISOCK_MULTI_OPTION(name, type)
#include "tables.inc"
#undef MULTISOCK_EASY_CODE
#undef MULTISOCK_MULTI_CODE
#undef MULTISOCK_INFO
#undef MULTISOCK_MULTI_OPTION
    default:
      return "CURLM_UNKNOWN";
  }
}

static Napi::Error MakeError(Napi::Env env, const Napi::FunctionReference& ctor, int code,
                             const char* name, const char* message, const std::string& detail) {
  if (ctor.IsEmpty()) return Napi::Error::New(env, std::string(name) + ": " + message);
  Napi::Object error = ctor.New(
      {Napi::Number::New(env, code), Napi::String::New(env, name), Napi::String::New(env, message),
       detail.empty() ? env.Undefined() : Napi::String::New(env, detail)});
  return Napi::Error(env, error);
}

Napi::Error EasyError(Napi::Env env, CURLcode code, const std::string& detail) {
  return MakeError(env, Data(env).curlError, code, EasyCodeName(code), curl_easy_strerror(code),
                   detail);
}

Napi::Error MultiError(Napi::Env env, CURLMcode code, const std::string& detail) {
  return MakeError(env, Data(env).multiError, code, MultiCodeName(code), curl_multi_strerror(code),
                   detail);
}

int32_t ToFd(const Napi::Value& value, const char* where) {
  double fd = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : NAN;
  if (!std::isfinite(fd) || std::trunc(fd) != fd || fd < -1 || fd > INT32_MAX) {
    throw MultiError(value.Env(), CURLM_BAD_SOCKET,
                     std::string(where) + ": the socket must be an integer file descriptor");
  }
  return static_cast<int32_t>(fd);
}

std::string ToName(const Napi::Value& value, const char* where) {
  if (!value.IsString()) {
    throw Napi::TypeError::New(value.Env(), std::string(where) + ": the name must be a string");
  }
  return value.As<Napi::String>().Utf8Value();
}

}  // namespace multisock
