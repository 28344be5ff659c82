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
  Napi::FunctionReference easyClass;   // the TypeScript Easy class (a subclass of the native one)
  Napi::FunctionReference curlError;   // (code, codeName, curlMessage, detail) => CurlError
  Napi::FunctionReference multiError;  // (code, codeName, curlMessage, detail) => CurlMultiError
  Napi::Reference<Napi::Symbol> doneHook;  // Multi[doneHook](easy, result): a finished transfer
  // Memory JS reads small results from (takeInto, takeResponse): a Buffer created in JS costs a
  // tenth of one created here. `numbers` gets takeResponse's infos.
  Napi::Reference<Napi::Value> scratchRef;
  char* scratch = nullptr;
  size_t scratchSize = 0;
  double* numbers = nullptr;
  size_t numberCount = 0;
  std::unordered_set<MultiHandle*> multis;
  // The libcurl handle duphandle() is passing to the Easy constructor, which takes only this
  // one: an External from anywhere else (another addon) would be used as a CURL*.
  CURL* pendingDup = nullptr;
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

// napi_unwrap hands back whatever native object any addon wrapped: an argument is trusted as an
// Easy or a Multi only with its type tag (prototype tricks cannot forge one). Receivers need no
// tag: Node-API checks a method's receiver, and the classes define no native accessors.
extern const napi_type_tag kEasyTag;
extern const napi_type_tag kMultiTag;
bool HasTag(const Napi::Value& value, const napi_type_tag& tag);

// Argument checks that throw a clear error naming the call and the argument.
int32_t ToFd(const Napi::Value& value, const char* where);  // CurlMultiError BAD_SOCKET
std::string ToName(const Napi::Value& value, const char* where);

}  // namespace multisock
