// Shared pieces of the addon: per-environment state, boxed JS values, and libcurl errors
// raised as the TypeScript CurlError / CurlMultiError classes.
#pragma once

#include <curl/curl.h>
// A JS call that worker.terminate() cuts short leaves a non-object "exception" behind, and
// node-addon-api's Napi::Error, wrapping it, would abort the whole process (FATAL ERROR:
// Error::Error napi_define_properties). With this it throws an ordinary Napi::Error.
#define NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS
#include <napi.h>

#include <string>
#include <unordered_set>

namespace multisock {

class EasyHandle;
class MultiHandle;

// One per Node environment (main thread or worker): the addon is context-aware.
struct AddonData {
  Napi::FunctionReference easyNative;  // the native Easy class, for instanceof checks
  Napi::FunctionReference easyClass;   // the TypeScript Easy class (a subclass of the native one)
  Napi::FunctionReference curlError;   // (code, codeName, curlMessage, detail) => CurlError
  Napi::FunctionReference multiError;  // (code, codeName, curlMessage, detail) => CurlMultiError
  Napi::Reference<Napi::Symbol> doneHook;  // Multi[doneHook](easy, result): a finished transfer
  std::unordered_set<MultiHandle*> multis;
  // Set when the environment is torn down: from then on no JS may run, libcurl handles are
  // released natively.
  bool tearingDown = false;
};

AddonData& Data(Napi::Env env);

// A strong reference to any JS value. Node-API references to primitives need Node 21, so the
// value is kept in a one-element array.
class JsValueRef {
 public:
  JsValueRef() = default;
  void Set(Napi::Value value);
  void Reset() { box_.Reset(); }
  bool IsEmpty() const { return box_.IsEmpty(); }
  Napi::Value Get(Napi::Env env) const;

 private:
  Napi::ObjectReference box_;
};

const char* EasyCodeName(CURLcode code);
const char* MultiCodeName(CURLMcode code);

Napi::Error EasyError(Napi::Env env, CURLcode code, const std::string& detail = "");
Napi::Error MultiError(Napi::Env env, CURLMcode code, const std::string& detail = "");

// Argument checks that throw a clear error naming the call and the argument.
int32_t ToFd(const Napi::Value& value, const char* where);  // CurlMultiError BAD_SOCKET
std::string ToName(const Napi::Value& value, const char* where);

}  // namespace multisock
