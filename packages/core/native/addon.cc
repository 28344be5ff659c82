// Module entry: context-aware, so each worker thread gets its own AddonData, classes and
// multis. libcurl's global state is made once per process.
#include <mutex>

#include "common.h"
#include "easy.h"
#include "multi.h"

namespace multisock {
namespace {

// TypeScript hands over its classes once: the Easy subclass (for duphandle), the error classes
// and the symbol under which a Multi receives finished transfers.
Napi::Value Setup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "setup: expected an object");
  Napi::Object hooks = info[0].As<Napi::Object>();
  AddonData& data = Data(env);
  data.easyClass = Napi::Persistent(hooks.Get("Easy").As<Napi::Function>());
  data.curlError = Napi::Persistent(hooks.Get("CurlError").As<Napi::Function>());
  data.multiError = Napi::Persistent(hooks.Get("CurlMultiError").As<Napi::Function>());
  data.doneHook = Napi::Persistent(hooks.Get("done").As<Napi::Symbol>());
  Napi::Value scratch = hooks.Get("scratch");
  Napi::Value numbers = hooks.Get("numbers");
  if (!scratch.IsTypedArray() ||
      scratch.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      !numbers.IsTypedArray() ||
      numbers.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    throw Napi::TypeError::New(env, "setup: scratch must be a Uint8Array, numbers a Float64Array");
  }
  Napi::Object hold = Napi::Object::New(env);
  hold.Set("scratch", scratch);
  hold.Set("numbers", numbers);
  data.scratchRef = Napi::Persistent(hold.As<Napi::Value>());
  data.scratch = reinterpret_cast<char*>(scratch.As<Napi::Uint8Array>().Data());
  data.scratchSize = scratch.As<Napi::Uint8Array>().ElementLength();
  data.numbers = numbers.As<Napi::Float64Array>().Data();
  data.numberCount = numbers.As<Napi::Float64Array>().ElementLength();
  return env.Undefined();
}

// [name, message] of a CURLcode ("easy") or CURLMcode ("multi").
Napi::Value CodeInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool multi = info[0].IsString() && info[0].As<Napi::String>().Utf8Value() == "multi";
  int code = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : -1;
  Napi::Array result = Napi::Array::New(env, 2);
  if (multi) {
    result.Set(0u, MultiCodeName(static_cast<CURLMcode>(code)));
    result.Set(1u, curl_multi_strerror(static_cast<CURLMcode>(code)));
  } else {
    result.Set(0u, EasyCodeName(static_cast<CURLcode>(code)));
    result.Set(1u, curl_easy_strerror(static_cast<CURLcode>(code)));
  }
  return result;
}

Napi::Object VersionInfo(Napi::Env env) {
  const curl_version_info_data* v = curl_version_info(CURLVERSION_NOW);
  Napi::Object info = Napi::Object::New(env);
  info.Set("version", v->version);
  info.Set("versionNum", v->version_num);
  info.Set("ssl", v->ssl_version != nullptr ? Napi::Value(Napi::String::New(env, v->ssl_version))
                                            : env.Null());
  info.Set("libz", v->libz_version != nullptr ? Napi::Value(Napi::String::New(env, v->libz_version))
                                              : env.Null());
  info.Set("nghttp2", v->nghttp2_version != nullptr
                          ? Napi::Value(Napi::String::New(env, v->nghttp2_version))
                          : env.Null());
  Napi::Array protocols = Napi::Array::New(env);
  uint32_t n = 0;
  for (const char* const* p = v->protocols; *p != nullptr; p++) protocols.Set(n++, *p);
  info.Set("protocols", protocols);
  info.Set("features", v->features);
  return info;
}

void TearDown(AddonData* data) {
  data->tearingDown = true;
  std::vector<MultiHandle*> multis(data->multis.begin(), data->multis.end());
  for (MultiHandle* multi : multis) multi->Teardown();
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });

  auto* data = new AddonData();
  env.SetInstanceData(data);
  // Runs before the finalizers of the environment's objects: no JS callback may run after it.
  env.AddCleanupHook(TearDown, data);

  exports.Set("Easy", EasyHandle::Init(env));
  exports.Set("Multi", MultiHandle::Init(env));
  exports.Set("setup", Napi::Function::New<Setup>(env, "setup"));
  exports.Set("codeInfo", Napi::Function::New<CodeInfo>(env, "codeInfo"));
  exports.Set("listOptions", Napi::Function::New<EasyHandle::ListOptions>(env, "listOptions"));
  exports.Set("libcurl", VersionInfo(env));

  Napi::Object constants = Napi::Object::New(env);
  constants.Set("WRITEFUNC_PAUSE", static_cast<double>(CURL_WRITEFUNC_PAUSE));
  constants.Set("READFUNC_PAUSE", static_cast<double>(CURL_READFUNC_PAUSE));
  constants.Set("READFUNC_ABORT", static_cast<double>(CURL_READFUNC_ABORT));
  exports.Set("constants", constants);
  return exports;
}

}  // namespace multisock

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  return multisock::Init(env, exports);
}

NODE_API_MODULE(multisock_core, InitModule)
