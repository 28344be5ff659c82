#include "easy.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>

#include "multi.h"

namespace multisock {

namespace {

// libcurl's option table, indexed by name once per process (it is read-only after that).
const std::unordered_map<std::string, const curl_easyoption*>& OptionTable() {
  static std::unordered_map<std::string, const curl_easyoption*> table;
  static std::once_flag once;
  std::call_once(once, [] {
    for (const curl_easyoption* o = curl_easy_option_next(nullptr); o != nullptr;
         o = curl_easy_option_next(o)) {
      table.emplace(o->name, o);
    }
  });
  return table;
}

const curl_easyoption* FindOption(const std::string& name) {
  const auto& table = OptionTable();
  auto it = table.find(name);
  if (it != table.end()) return it->second;
  return curl_easy_option_by_name(name.c_str());  // case-insensitive, as libcurl knows it
}

const char* TypeName(curl_easytype type) {
  switch (type) {
    case CURLOT_LONG:
      return "long";
    case CURLOT_VALUES:
      return "values";
    case CURLOT_OFF_T:
      return "off_t";
    case CURLOT_OBJECT:
      return "object";
    case CURLOT_STRING:
      return "string";
    case CURLOT_SLIST:
      return "slist";
    case CURLOT_CBPTR:
      return "cbptr";
    case CURLOT_BLOB:
      return "blob";
    case CURLOT_FUNCTION:
      return "function";
  }
  return "unknown";
}

std::string Describe(const Napi::Value& value) {
  if (value.IsNull()) return "null";
  if (value.IsUndefined()) return "undefined";
  if (value.IsNumber()) {
    double d = value.As<Napi::Number>().DoubleValue();
    if (std::isnan(d)) return "NaN";
    return "the number " + value.ToString().Utf8Value();
  }
  if (value.IsString()) return "a string";
  if (value.IsBoolean()) return "a boolean";
  if (value.IsBigInt()) return "a bigint";
  if (value.IsFunction()) return "a function";
  if (value.IsArray()) return "an array";
  if (value.IsBuffer() || value.IsTypedArray()) return "a buffer";
  return "an object";
}

Napi::Error BadValue(Napi::Env env, const char* name, const char* expected,
                     const Napi::Value& value) {
  return EasyError(
      env, CURLE_BAD_FUNCTION_ARGUMENT,
      std::string("setopt(") + name + "): expected " + expected + ", got " + Describe(value));
}

long ToLong(Napi::Env env, const char* name, const Napi::Value& value) {
  if (value.IsBoolean()) return value.As<Napi::Boolean>().Value() ? 1 : 0;
  if (!value.IsNumber()) throw BadValue(env, name, "an integer", value);
  double d = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::trunc(d) != d) throw BadValue(env, name, "an integer", value);
  if (d < static_cast<double>(LONG_MIN) || d > static_cast<double>(LONG_MAX) ||
      std::fabs(d) > 9007199254740991.0) {
    throw BadValue(env, name, "an integer within the range of a C long", value);
  }
  return static_cast<long>(d);
}

curl_off_t ToOffT(Napi::Env env, const char* name, const Napi::Value& value) {
  if (value.IsBigInt()) {
    bool lossless = false;
    int64_t v = value.As<Napi::BigInt>().Int64Value(&lossless);
    if (!lossless) throw BadValue(env, name, "a 64-bit integer", value);
    return static_cast<curl_off_t>(v);
  }
  if (!value.IsNumber()) throw BadValue(env, name, "an integer or a bigint", value);
  double d = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::trunc(d) != d || std::fabs(d) > 9007199254740991.0) {
    throw BadValue(env, name, "a safe integer or a bigint", value);
  }
  return static_cast<curl_off_t>(d);
}

// A JS string as a C string: NUL bytes would silently truncate it in libcurl, so they are refused.
std::string ToCString(Napi::Env env, const char* name, const Napi::Value& value) {
  if (!value.IsString()) throw BadValue(env, name, "a string", value);
  std::string s = value.As<Napi::String>().Utf8Value();
  if (s.find('\0') != std::string::npos) {
    throw EasyError(env, CURLE_BAD_FUNCTION_ARGUMENT,
                    std::string("setopt(") + name + "): the string contains a NUL byte");
  }
  return s;
}

// Bytes of a Buffer, any TypedArray/DataView, or a string (UTF-8).
bool ToBytes(const Napi::Value& value, std::string& out) {
  if (value.IsString()) {
    out = value.As<Napi::String>().Utf8Value();
    return true;
  }
  if (value.IsTypedArray()) {
    auto view = value.As<Napi::TypedArray>();
    auto* base = static_cast<const char*>(view.ArrayBuffer().Data()) + view.ByteOffset();
    out.assign(base, view.ByteLength());
    return true;
  }
  if (value.IsDataView()) {
    auto view = value.As<Napi::DataView>();
    auto* base = static_cast<const char*>(view.ArrayBuffer().Data()) + view.ByteOffset();
    out.assign(base, view.ByteLength());
    return true;
  }
  return false;
}

Napi::Value FromOffT(Napi::Env env, curl_off_t v) {
  return Napi::Number::New(env, static_cast<double>(v));
}

}  // namespace

Napi::Function EasyHandle::Init(Napi::Env env) {
  return DefineClass(env, "NativeEasy",
                     {
                         InstanceMethod<&EasyHandle::SetOpt>("setopt"),
                         InstanceMethod<&EasyHandle::GetInfo>("getinfo"),
                         InstanceMethod<&EasyHandle::GetInfos>("getinfos"),
                         InstanceMethod<&EasyHandle::Pause>("pause"),
                         InstanceMethod<&EasyHandle::Reset>("reset"),
                         InstanceMethod<&EasyHandle::DupHandle>("duphandle"),
                         InstanceMethod<&EasyHandle::Close>("close"),
                         InstanceMethod<&EasyHandle::TakeResponse>("takeResponse"),
                         InstanceMethod<&EasyHandle::TakeInto>("takeInto"),
                         InstanceMethod<&EasyHandle::CarriesState>("carriesState"),
                         InstanceMethod<&EasyHandle::TakeCallbackError>("takeCallbackError"),
                         InstanceMethod<&EasyHandle::ErrorText>("errorText"),
                         // Methods, not accessors: Node-API checks a method's receiver (an
                         // accessor needs a type-tag check, several times slower), and the
                         // TypeScript class has the getters.
                         InstanceMethod<&EasyHandle::GetClosed>("isClosed"),
                         InstanceMethod<&EasyHandle::GetMulti>("currentMulti"),
                     });
}

bool EasyHandle::IsEasy(Napi::Env, const Napi::Value& value) {
  // Not instanceof: any wrapped object given Easy.prototype would pass (see kEasyTag).
  return HasTag(value, kEasyTag);
}

EasyHandle* EasyHandle::FromCurl(CURL* handle) {
  char* ptr = nullptr;
  if (handle == nullptr || curl_easy_getinfo(handle, CURLINFO_PRIVATE, &ptr) != CURLE_OK) {
    return nullptr;
  }
  return reinterpret_cast<EasyHandle*>(ptr);
}

EasyHandle::EasyHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EasyHandle>(info) {
  // duphandle passes the copied libcurl handle in as an External, and only it (pendingDup).
  if (info.Length() > 0 && info[0].IsExternal()) {
    CURL* dup = info[0].As<Napi::External<CURL>>().Data();
    AddonData& data = Data(info.Env());
    if (dup == nullptr || dup != data.pendingDup) {
      throw Napi::TypeError::New(info.Env(), "Easy: unexpected argument");
    }
    data.pendingDup = nullptr;  // owned by this Easy from here on
    handle_ = dup;
  } else {
    handle_ = curl_easy_init();
  }
  if (handle_ == nullptr) throw EasyError(info.Env(), CURLE_OUT_OF_MEMORY, "curl_easy_init failed");
  ApplyInternalOptions();
  info.This().As<Napi::Object>().TypeTag(&kEasyTag);
}

EasyHandle::~EasyHandle() {
  finalizing_ = true;  // curl_easy_cleanup may still call DEBUGFUNCTION: no JS from a finalizer
  ReleaseNative();
}

void EasyHandle::ReleaseNative() {
  if (handle_ == nullptr) return;
  if (multi != nullptr) multi->ForgetEasy(this);
  curl_easy_cleanup(handle_);
  handle_ = nullptr;
  ClearOptionState();
}

void EasyHandle::ApplyInternalOptions() {
  curl_easy_setopt(handle_, CURLOPT_PRIVATE, this);
  curl_easy_setopt(handle_, CURLOPT_ERRORBUFFER, errorBuffer_);
  curl_easy_setopt(handle_, CURLOPT_WRITEFUNCTION, write_.IsEmpty() ? CollectBody : JsWrite);
  curl_easy_setopt(handle_, CURLOPT_WRITEDATA, this);
  curl_easy_setopt(handle_, CURLOPT_HEADERFUNCTION, header_.IsEmpty() ? CollectHeader : JsHeader);
  curl_easy_setopt(handle_, CURLOPT_HEADERDATA, this);
  // Node runs threads and ignores SIGPIPE already; libcurl's signal juggling per transfer is
  // pure cost here (DESIGN.md, Performance).
  curl_easy_setopt(handle_, CURLOPT_NOSIGNAL, 1L);
  // libcurl's default read callback is fread() on stdin: an upload without READFUNCTION (UPLOAD,
  // POST without a body) would block the loop reading the process's stdin and send it away.
  curl_easy_setopt(handle_, CURLOPT_READFUNCTION, read_.IsEmpty() ? NoBody : JsRead);
  curl_easy_setopt(handle_, CURLOPT_READDATA, this);
  // Every socket libcurl opens and closes is seen by the multi the transfer runs in (its DATA
  // is set at each add): a native loop adapter learns exactly when a socket dies.
  curl_easy_setopt(handle_, CURLOPT_OPENSOCKETFUNCTION, MultiHandle::OnOpenSocket);
  curl_easy_setopt(handle_, CURLOPT_CLOSESOCKETFUNCTION, MultiHandle::OnCloseSocket);
  if (!seek_.IsEmpty()) curl_easy_setopt(handle_, CURLOPT_SEEKDATA, this);
  if (!xferinfo_.IsEmpty()) curl_easy_setopt(handle_, CURLOPT_XFERINFODATA, this);
  if (!debug_.IsEmpty()) curl_easy_setopt(handle_, CURLOPT_DEBUGDATA, this);
}

void EasyHandle::ClearOptionState() {
  for (auto& entry : slists_) curl_slist_free_all(entry.second);
  slists_.clear();
  for (curl_slist* list : retiredSlists_) curl_slist_free_all(list);
  retiredSlists_.clear();
  postFieldsSize_ = -1;
  write_.Reset();
  header_.Reset();
  read_.Reset();
  seek_.Reset();
  xferinfo_.Reset();
  debug_.Reset();
  private_.Reset();
  callbackError_.Reset();
  abortPending_ = false;
  url_.clear();
  body_.Clear();
  ClearBytes(headers_);
}

void EasyHandle::CheckOpen(Napi::Env env, const char* where) const {
  if (handle_ == nullptr) {
    throw EasyError(env, CURLE_BAD_FUNCTION_ARGUMENT, std::string(where) + ": the Easy is closed");
  }
}

void EasyHandle::Check(Napi::Env env, CURLcode code, const char* name) {
  if (code != CURLE_OK) throw EasyError(env, code, std::string("setopt(") + name + ")");
}

void EasyHandle::PrepareTransfer(MultiHandle* owner) {
  for (curl_slist* list : retiredSlists_) curl_slist_free_all(list);  // not in a transfer now
  retiredSlists_.clear();
  callbackError_.Reset();
  abortPending_ = false;
  errorBuffer_[0] = '\0';
  // What the last transfer collected and nobody took does not pile up across transfers.
  body_.Clear();
  ClearBytes(headers_);
  curl_easy_setopt(handle_, CURLOPT_OPENSOCKETDATA, owner);
  curl_easy_setopt(handle_, CURLOPT_CLOSESOCKETDATA, owner);
}

void EasyHandle::FailTransfer(Napi::Value error) {
  RecordCallbackError(error);
}

Napi::Value EasyHandle::SetOpt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "setopt");
  std::string name = ToName(info[0], "setopt");
  const curl_easyoption* option = FindOption(name);
  if (option == nullptr) {
    throw EasyError(env, CURLE_UNKNOWN_OPTION, "setopt: unknown option '" + name + "'");
  }
  SetOption(env, option, info[1]);
  return env.Undefined();
}

void EasyHandle::SetOption(Napi::Env env, const curl_easyoption* option, const Napi::Value& value) {
  const char* name = option->name;
  CURLoption id = option->id;
  switch (id) {
    case CURLOPT_PRIVATE:  // any JS value, kept here; libcurl's PRIVATE points at this object
      if (value.IsUndefined()) {
        private_.Reset();
      } else {
        private_.Set(value);
      }
      return;
    case CURLOPT_POSTFIELDS:
    case CURLOPT_COPYPOSTFIELDS:
      SetPostFields(env, name, value);
      return;
    case CURLOPT_POSTFIELDSIZE:
    case CURLOPT_POSTFIELDSIZE_LARGE: {
      curl_off_t size =
          id == CURLOPT_POSTFIELDSIZE ? ToLong(env, name, value) : ToOffT(env, name, value);
      // libcurl reads a POSTFIELDS body from its copy, which has exactly the body's length and
      // no terminating NUL: -1 (strlen) would read past it. A larger size makes it drop the
      // body (and read the upload from READFUNCTION instead): refused as well, to say so.
      if (postFieldsSize_ >= 0 && (size < 0 || size > postFieldsSize_)) {
        throw BadValue(env, name,
                       ("a size from 0 to the POSTFIELDS body's " +
                        std::to_string(postFieldsSize_) + " bytes (set POSTFIELDS again instead)")
                           .c_str(),
                       value);
      }
      Check(env,
            id == CURLOPT_POSTFIELDSIZE ? curl_easy_setopt(handle_, id, static_cast<long>(size))
                                        : curl_easy_setopt(handle_, id, size),
            name);
      if (postFieldsSize_ >= 0) postFieldsSize_ = size;
      return;
    }
    case CURLOPT_URL:
      SetUrl(env, value);
      return;
    case CURLOPT_ERRORBUFFER:
      throw EasyError(env, CURLE_BAD_FUNCTION_ARGUMENT,
                      std::string("setopt(") + name +
                          "): multisock owns the error buffer; errors carry its text");
    default:
      break;
  }
  const bool clear = value.IsNull() || value.IsUndefined();
  switch (option->type) {
    case CURLOT_LONG:
    case CURLOT_VALUES:
      Check(env, curl_easy_setopt(handle_, id, ToLong(env, name, value)), name);
      return;
    case CURLOT_OFF_T:
      Check(env, curl_easy_setopt(handle_, id, ToOffT(env, name, value)), name);
      return;
    case CURLOT_STRING:
      if (clear) {
        Check(env, curl_easy_setopt(handle_, id, static_cast<char*>(nullptr)), name);
      } else {
        Check(env, curl_easy_setopt(handle_, id, ToCString(env, name, value).c_str()), name);
      }
      return;
    case CURLOT_SLIST:
      SetSlist(env, id, name, value);
      return;
    case CURLOT_BLOB: {
      if (clear) {
        Check(env, curl_easy_setopt(handle_, id, static_cast<curl_blob*>(nullptr)), name);
        return;
      }
      std::string bytes;
      if (!ToBytes(value, bytes))
        throw BadValue(env, name, "a Buffer, Uint8Array or string", value);
      curl_blob blob{bytes.data(), bytes.size(), CURL_BLOB_COPY};
      Check(env, curl_easy_setopt(handle_, id, &blob), name);
      return;
    }
    case CURLOT_FUNCTION:
      SetCallback(env, id, name, value);
      return;
    case CURLOT_OBJECT:
    case CURLOT_CBPTR:
      break;
  }
  throw EasyError(env, CURLE_BAD_FUNCTION_ARGUMENT,
                  std::string("setopt(") + name + "): options of type " + TypeName(option->type) +
                      " carry C pointers and cannot be set from JavaScript; JS callbacks reach "
                      "their data through closures");
}

void EasyHandle::SetUrl(Napi::Env env, const Napi::Value& value) {
  if (value.IsNull() || value.IsUndefined()) {
    Check(env, curl_easy_setopt(handle_, CURLOPT_URL, static_cast<char*>(nullptr)), "URL");
    url_.clear();
    return;
  }
  std::string url = ToCString(env, "URL", value);
  Check(env, curl_easy_setopt(handle_, CURLOPT_URL, url.c_str()), "URL");
  url_ = std::move(url);
}

void EasyHandle::SetPostFields(Napi::Env env, const char* name, const Napi::Value& value) {
  // libcurl frees its copy of the old body here while an upload in progress still reads from
  // it (http->postdata): a use after free that sends freed memory, or a segfault.
  if (multi != nullptr) {
    throw EasyError(env, CURLE_BAD_FUNCTION_ARGUMENT,
                    std::string("setopt(") + name +
                        "): the Easy is added to a Multi, whose transfer reads the body; remove "
                        "it first");
  }
  if (value.IsNull() || value.IsUndefined()) {
    Check(env, curl_easy_setopt(handle_, CURLOPT_POSTFIELDS, static_cast<char*>(nullptr)), name);
    postFieldsSize_ = -1;
    return;
  }
  // POSTFIELDS would keep a pointer into JS memory; the copy is the same request and safe.
  std::string bytes;
  if (!ToBytes(value, bytes)) throw BadValue(env, name, "a string, Buffer or Uint8Array", value);
  Check(
      env,
      curl_easy_setopt(handle_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(bytes.size())),
      name);
  Check(env, curl_easy_setopt(handle_, CURLOPT_COPYPOSTFIELDS, bytes.data()), name);
  postFieldsSize_ = static_cast<curl_off_t>(bytes.size());
}

void EasyHandle::SetSlist(Napi::Env env, CURLoption id, const char* name,
                          const Napi::Value& value) {
  curl_slist* list = nullptr;
  if (!(value.IsNull() || value.IsUndefined())) {
    if (!value.IsArray()) throw BadValue(env, name, "an array of strings", value);
    Napi::Array array = value.As<Napi::Array>();
    for (uint32_t i = 0; i < array.Length(); i++) {
      Napi::Value item = array.Get(i);
      std::string s;
      try {
        s = ToCString(env, name, item);
      } catch (...) {
        curl_slist_free_all(list);
        throw;
      }
      curl_slist* grown = curl_slist_append(list, s.c_str());
      if (grown == nullptr) {
        curl_slist_free_all(list);
        throw EasyError(env, CURLE_OUT_OF_MEMORY, std::string("setopt(") + name + ")");
      }
      list = grown;
    }
  }
  CURLcode code = curl_easy_setopt(handle_, id, list);
  if (code != CURLE_OK) {
    curl_slist_free_all(list);
    Check(env, code, name);
  }
  // libcurl does not copy lists: the previous one is freed only once it is no longer set, and
  // not before the transfer ends if the Easy is added (see retiredSlists_).
  auto it = slists_.find(id);
  if (it != slists_.end()) {
    if (multi != nullptr) {
      retiredSlists_.push_back(it->second);
    } else {
      curl_slist_free_all(it->second);
    }
    slists_.erase(it);
  }
  if (list != nullptr) slists_[id] = list;
}

void EasyHandle::SetCallback(Napi::Env env, CURLoption id, const char* name,
                             const Napi::Value& value) {
  const bool clear = value.IsNull() || value.IsUndefined();
  if (!clear && !value.IsFunction()) throw BadValue(env, name, "a function or null", value);
  auto store = [&](Napi::FunctionReference& ref) {
    if (clear) {
      ref.Reset();
    } else {
      ref = Napi::Persistent(value.As<Napi::Function>());
    }
  };
  switch (id) {
    case CURLOPT_WRITEFUNCTION:
      store(write_);
      curl_easy_setopt(handle_, CURLOPT_WRITEFUNCTION, clear ? CollectBody : JsWrite);
      return;
    case CURLOPT_HEADERFUNCTION:
      store(header_);
      curl_easy_setopt(handle_, CURLOPT_HEADERFUNCTION, clear ? CollectHeader : JsHeader);
      return;
    case CURLOPT_READFUNCTION:
      store(read_);
      // Never back to libcurl's default fread() on stdin (see ApplyInternalOptions).
      curl_easy_setopt(handle_, CURLOPT_READFUNCTION, clear ? NoBody : JsRead);
      curl_easy_setopt(handle_, CURLOPT_READDATA, this);
      return;
    case CURLOPT_SEEKFUNCTION:
      store(seek_);
      curl_easy_setopt(handle_, CURLOPT_SEEKFUNCTION, clear ? nullptr : JsSeek);
      curl_easy_setopt(handle_, CURLOPT_SEEKDATA, clear ? nullptr : this);
      return;
    case CURLOPT_XFERINFOFUNCTION:
      store(xferinfo_);
      curl_easy_setopt(handle_, CURLOPT_XFERINFOFUNCTION, clear ? nullptr : JsXferInfo);
      curl_easy_setopt(handle_, CURLOPT_XFERINFODATA, clear ? nullptr : this);
      // A progress function is only called with NOPROGRESS off; setting one means wanting it.
      curl_easy_setopt(handle_, CURLOPT_NOPROGRESS, clear ? 1L : 0L);
      return;
    case CURLOPT_DEBUGFUNCTION:
      store(debug_);
      curl_easy_setopt(handle_, CURLOPT_DEBUGFUNCTION, clear ? nullptr : JsDebug);
      curl_easy_setopt(handle_, CURLOPT_DEBUGDATA, clear ? nullptr : this);
      return;
    default:
      throw EasyError(env, CURLE_BAD_FUNCTION_ARGUMENT,
                      std::string("setopt(") + name +
                          "): this callback is not available from JavaScript (WRITEFUNCTION, "
                          "HEADERFUNCTION, READFUNCTION, SEEKFUNCTION, XFERINFOFUNCTION and "
                          "DEBUGFUNCTION are)");
  }
}

Napi::Value EasyHandle::GetInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "getinfo");
  return Info(env, ToName(info[0], "getinfo"));
}

// Several infos in one crossing: a client reading status, version, URL and timings per response
// would otherwise pay a JS-to-C++ call for each.
Napi::Value EasyHandle::GetInfos(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "getinfos");
  if (!info[0].IsArray()) throw Napi::TypeError::New(env, "getinfos: expected an array of names");
  Napi::Array names = info[0].As<Napi::Array>();
  const uint32_t count = names.Length();
  Napi::Array result = Napi::Array::New(env, count);
  for (uint32_t i = 0; i < count; i++) result.Set(i, Info(env, ToName(names.Get(i), "getinfos")));
  return result;
}

Napi::Value EasyHandle::Info(Napi::Env env, const std::string& name) {
  static const std::unordered_map<std::string, CURLINFO> infos = {
#define MULTISOCK_INFO(n) {#n, CURLINFO_##n},
#define MULTISOCK_EASY_CODE(n)
#define MULTISOCK_MULTI_CODE(n)
#define MULTISOCK_MULTI_OPTION(n, t)
#include "tables.inc"
#undef MULTISOCK_INFO
#undef MULTISOCK_EASY_CODE
#undef MULTISOCK_MULTI_CODE
#undef MULTISOCK_MULTI_OPTION
  };
  auto it = infos.find(name);
  if (it == infos.end()) {
    throw EasyError(env, CURLE_UNKNOWN_OPTION, "getinfo: unknown info '" + name + "'");
  }
  CURLINFO id = it->second;
  auto check = [&](CURLcode code) {
    if (code != CURLE_OK) throw EasyError(env, code, "getinfo(" + name + ")");
  };
  if (id == CURLINFO_PRIVATE) return private_.Get(env);
  if (id == CURLINFO_CERTINFO) {
    curl_certinfo* certs = nullptr;
    check(curl_easy_getinfo(handle_, CURLINFO_CERTINFO, &certs));
    Napi::Array result = Napi::Array::New(env);
    for (int i = 0; certs != nullptr && i < certs->num_of_certs; i++) {
      Napi::Array lines = Napi::Array::New(env);
      uint32_t n = 0;
      for (curl_slist* s = certs->certinfo[i]; s != nullptr; s = s->next) {
        lines.Set(n++, Napi::String::New(env, s->data));
      }
      result.Set(static_cast<uint32_t>(i), lines);
    }
    return result;
  }
  switch (id & CURLINFO_TYPEMASK) {
    case CURLINFO_STRING: {
      char* s = nullptr;
      check(curl_easy_getinfo(handle_, id, &s));
      return s == nullptr ? env.Null() : Napi::String::New(env, s);
    }
    case CURLINFO_LONG: {
      long v = 0;
      check(curl_easy_getinfo(handle_, id, &v));
      return Napi::Number::New(env, static_cast<double>(v));
    }
    case CURLINFO_DOUBLE: {
      double v = 0;
      check(curl_easy_getinfo(handle_, id, &v));
      return Napi::Number::New(env, v);
    }
    case CURLINFO_OFF_T: {
      curl_off_t v = 0;
      check(curl_easy_getinfo(handle_, id, &v));
      return FromOffT(env, v);
    }
    case CURLINFO_SOCKET: {
      curl_socket_t v = CURL_SOCKET_BAD;
      check(curl_easy_getinfo(handle_, id, &v));
      return Napi::Number::New(env, static_cast<double>(v));
    }
    case CURLINFO_SLIST: {
      if (id == CURLINFO_SSL_ENGINES || id == CURLINFO_COOKIELIST) {
        curl_slist* list = nullptr;
        check(curl_easy_getinfo(handle_, id, &list));
        Napi::Array result = Napi::Array::New(env);
        uint32_t n = 0;
        for (curl_slist* s = list; s != nullptr; s = s->next) {
          result.Set(n++, Napi::String::New(env, s->data));
        }
        curl_slist_free_all(list);
        return result;
      }
      break;
    }
    default:
      break;
  }
  throw EasyError(env, CURLE_BAD_FUNCTION_ARGUMENT,
                  "getinfo(" + name + "): returns a C pointer that JavaScript cannot use");
}

Napi::Value EasyHandle::Pause(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "pause");
  // 7.88.1 lets curl_easy_pause run inside the socket callback and frees the socket entry the
  // outer singlesocket() then writes to; newer libcurl refuses it (docs/contract.md#no-re-entry).
  if (multi != nullptr && multi->InSocketOrTimerCallback()) {
    throw EasyError(env, CURLE_RECURSIVE_API_CALL,
                    "pause: called from inside a socket or timer callback; pause from a "
                    "write/read callback's return value, or on a later turn of the loop");
  }
  double bits = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
  if (bits != 0 && bits != CURLPAUSE_RECV && bits != CURLPAUSE_SEND && bits != CURLPAUSE_ALL) {
    throw EasyError(env, CURLE_BAD_FUNCTION_ARGUMENT,
                    "pause: bits must be Pause.CONT (0), RECV (1), SEND (4) or ALL (5), got " +
                        Describe(info[0]));
  }
  // curl_easy_pause may call the multi's socket and timer callbacks
  // (docs/contract.md#when-callbacks-fire).
  MultiHandle* owner = multi;
  if (owner != nullptr) owner->Enter();
  CURLcode code = curl_easy_pause(handle_, static_cast<int>(bits));
  if (owner != nullptr) owner->Leave(env);
  if (code != CURLE_OK) throw EasyError(env, code, "pause");
  return env.Undefined();
}

Napi::Value EasyHandle::Reset(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "reset");
  if (multi != nullptr) {
    throw EasyError(env, CURLE_BAD_FUNCTION_ARGUMENT,
                    "reset: the Easy is added to a Multi; remove it first");
  }
  curl_easy_reset(handle_);
  ClearOptionState();
  ApplyInternalOptions();
  return env.Undefined();
}

void EasyHandle::CopyStateTo(EasyHandle& copy) const {
  // duphandle copied the pointers libcurl holds: lists are re-made for the copy, callbacks and
  // *DATA pointers re-aimed at it.
  for (const auto& entry : slists_) {
    curl_slist* list = nullptr;
    for (curl_slist* s = entry.second; s != nullptr; s = s->next) {
      list = curl_slist_append(list, s->data);
    }
    copy.slists_[entry.first] = list;
    curl_easy_setopt(copy.handle_, static_cast<CURLoption>(entry.first), list);
  }
  if (!write_.IsEmpty()) copy.write_ = Napi::Persistent(write_.Value());
  if (!header_.IsEmpty()) copy.header_ = Napi::Persistent(header_.Value());
  if (!read_.IsEmpty()) copy.read_ = Napi::Persistent(read_.Value());
  if (!seek_.IsEmpty()) copy.seek_ = Napi::Persistent(seek_.Value());
  if (!xferinfo_.IsEmpty()) copy.xferinfo_ = Napi::Persistent(xferinfo_.Value());
  if (!debug_.IsEmpty()) copy.debug_ = Napi::Persistent(debug_.Value());
  if (!private_.IsEmpty()) copy.private_.Set(private_.Get(Env()));
  copy.url_ = url_;
  copy.ApplyInternalOptions();
  // duphandle copies a non-empty POSTFIELDS body, but an empty one is left pointing at this
  // Easy's copy (Curl_dupset copies only when the size is not 0): give the copy its own.
  copy.postFieldsSize_ = postFieldsSize_;
  if (postFieldsSize_ == 0) curl_easy_setopt(copy.handle_, CURLOPT_COPYPOSTFIELDS, "");
}

Napi::Value EasyHandle::DupHandle(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "duphandle");
  CURL* dup = curl_easy_duphandle(handle_);
  if (dup == nullptr) throw EasyError(env, CURLE_OUT_OF_MEMORY, "duphandle");
  AddonData& data = Data(env);
  Napi::Object object;
  data.pendingDup = dup;
  try {
    object = data.easyClass.New({Napi::External<CURL>::New(env, dup)});
  } catch (...) {
    // Freed here only if no Easy took it: one that did frees it when it is collected.
    if (data.pendingDup == dup) curl_easy_cleanup(dup);
    data.pendingDup = nullptr;
    throw;
  }
  if (data.pendingDup == dup || !HasTag(object, kEasyTag)) {
    if (data.pendingDup == dup) curl_easy_cleanup(dup);
    data.pendingDup = nullptr;
    throw Napi::TypeError::New(env, "duphandle: the Easy class did not make an Easy");
  }
  CopyStateTo(*EasyHandle::Unwrap(object));
  return object;
}

Napi::Value EasyHandle::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (handle_ == nullptr) return env.Undefined();
  if (multi != nullptr) multi->RemoveFromJs(env, this, "close");
  curl_easy_cleanup(handle_);
  handle_ = nullptr;
  ClearOptionState();
  return env.Undefined();
}

Napi::Value EasyHandle::GetClosed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), handle_ == nullptr);
}

Napi::Value EasyHandle::GetMulti(const Napi::CallbackInfo& info) {
  if (multi == nullptr || finishedPending) return info.Env().Null();
  return multi->Value();
}

// Headers are small: copied out.
static Napi::Value TakeBuffer(Napi::Env env, std::vector<char>& bytes) {
  Napi::Buffer<char> copy = Napi::Buffer<char>::Copy(env, bytes.data(), bytes.size());
  ClearBytes(bytes);
  return copy;
}

// takeInto(which): the body (0) or the header bytes (1) collected since the last call, copied to
// the scratch memory when they fit (returns their length: JS makes the Buffer), else a Buffer.
Napi::Value EasyHandle::TakeInto(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const bool headers = info[0].IsNumber() && info[0].As<Napi::Number>().Int32Value() == 1;
  AddonData& data = Data(env);
  if (headers) {
    if (headers_.size() > data.scratchSize) return TakeBuffer(env, headers_);
    const size_t n = headers_.size();
    if (n > 0) std::memcpy(data.scratch, headers_.data(), n);
    ClearBytes(headers_);
    return Napi::Number::New(env, static_cast<double>(n));
  }
  size_t n = 0;
  if (!body_.TakeInto(data.scratch, data.scratchSize, &n)) {
    return Napi::Value(env, body_.Take(env));
  }
  return Napi::Number::New(env, static_cast<double>(n));
}

// takeResponse(withBody): what a finished HTTP transfer reports, in one call and without a name
// lookup. The shared `numbers` get kResponseInfos, then [11] the header bytes copied to the
// scratch memory at 0 (-1: returned instead), [12] the body bytes copied right after them (-1:
// returned, -2: not asked for). Returns undefined, or [EFFECTIVE_URL when it is not the URL set,
// the headers, the body] with undefined for what is in the scratch memory or unchanged.
Napi::Value EasyHandle::TakeResponse(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "takeResponse");
  static constexpr CURLINFO kResponseInfos[] = {
      CURLINFO_RESPONSE_CODE,     CURLINFO_HTTP_VERSION,       CURLINFO_REDIRECT_COUNT,
      CURLINFO_NUM_CONNECTS,      CURLINFO_NAMELOOKUP_TIME_T,  CURLINFO_CONNECT_TIME_T,
      CURLINFO_APPCONNECT_TIME_T, CURLINFO_PRETRANSFER_TIME_T, CURLINFO_STARTTRANSFER_TIME_T,
      CURLINFO_TOTAL_TIME_T,      CURLINFO_REDIRECT_TIME_T,
  };
  constexpr size_t kCount = sizeof(kResponseInfos) / sizeof(kResponseInfos[0]);
  AddonData& data = Data(env);
  if (data.numberCount < kCount + 2) throw Napi::Error::New(env, "takeResponse: not set up");
  double* out = data.numbers;
  for (size_t i = 0; i < kCount; i++) {
    const CURLINFO id = kResponseInfos[i];
    if ((id & CURLINFO_TYPEMASK) == CURLINFO_LONG) {
      long v = 0;
      curl_easy_getinfo(handle_, id, &v);
      out[i] = static_cast<double>(v);
    } else {
      curl_off_t v = 0;
      curl_easy_getinfo(handle_, id, &v);
      out[i] = static_cast<double>(v);
    }
  }
  Napi::Value url, headers, body;
  char* effective = nullptr;
  curl_easy_getinfo(handle_, CURLINFO_EFFECTIVE_URL, &effective);
  if (effective != nullptr && url_ != effective) url = Napi::String::New(env, effective);
  size_t used = 0;
  if (headers_.size() <= data.scratchSize) {
    used = headers_.size();
    if (used > 0) std::memcpy(data.scratch, headers_.data(), used);
    ClearBytes(headers_);
    out[kCount] = static_cast<double>(used);
  } else {
    headers = TakeBuffer(env, headers_);
    out[kCount] = -1;
  }
  size_t n = 0;
  if (!(info[0].IsBoolean() && info[0].As<Napi::Boolean>().Value())) {
    out[kCount + 1] = -2;
  } else if (body_.TakeInto(data.scratch + used, data.scratchSize - used, &n)) {
    out[kCount + 1] = static_cast<double>(n);
  } else {
    body = Napi::Value(env, body_.Take(env));
    out[kCount + 1] = -1;
  }
  if (url.IsEmpty() && headers.IsEmpty() && body.IsEmpty()) return env.Undefined();
  Napi::Array result = Napi::Array::New(env, 3);
  result.Set(0u, url.IsEmpty() ? env.Undefined() : url);
  result.Set(1u, headers.IsEmpty() ? env.Undefined() : headers);
  result.Set(2u, body.IsEmpty() ? env.Undefined() : body);
  return result;
}

// Whether the last transfer left state in the handle that no setopt undoes (why: the Client's
// EasyPool): an error, a redirect or retry (REDIRECT_TIME_T), or before 8.8.0 a saved errno.
Napi::Value EasyHandle::CarriesState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "carriesState");
  static const bool errnoStays = curl_version_info(CURLVERSION_NOW)->version_num < 0x080800;
  curl_off_t redirect = 0;
  curl_easy_getinfo(handle_, CURLINFO_REDIRECT_TIME_T, &redirect);
  long osErrno = 0;
  if (errnoStays) curl_easy_getinfo(handle_, CURLINFO_OS_ERRNO, &osErrno);
  return Napi::Boolean::New(env, errorBuffer_[0] != '\0' || redirect > 0 || osErrno != 0);
}

Napi::Value EasyHandle::TakeCallbackError(const Napi::CallbackInfo& info) {
  Napi::Value error =
      callbackError_.IsEmpty() ? info.Env().Undefined() : callbackError_.Get(info.Env());
  callbackError_.Reset();
  return error;
}

Napi::Value EasyHandle::ErrorText(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), errorBuffer_);
}

Napi::Value EasyHandle::ListOptions(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array result = Napi::Array::New(env);
  uint32_t n = 0;
  for (const curl_easyoption* o = curl_easy_option_next(nullptr); o != nullptr;
       o = curl_easy_option_next(o)) {
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("name", o->name);
    entry.Set("id", static_cast<double>(o->id));
    entry.Set("type", TypeName(o->type));
    entry.Set("alias", (o->flags & CURLOT_FLAG_ALIAS) != 0);
    result.Set(n++, entry);
  }
  return result;
}

// --- libcurl callbacks -------------------------------------------------------------------------

bool EasyHandle::CanCallJs() const {
  return !abortPending_ && !finalizing_ && !Data(Env()).tearingDown;
}

void EasyHandle::NoteJs() {
  if (multi != nullptr) multi->NoteJsRan();
}

void EasyHandle::RecordCallbackError(Napi::Value error) {
  abortPending_ = true;
  // Keeping the error fails too once the environment is stopping (worker.terminate()): it is
  // lost then, the transfer still fails, and no exception reaches libcurl.
  try {
    if (callbackError_.IsEmpty()) callbackError_.Set(error);
  } catch (...) {
  }
}

// Every libcurl callback below catches everything: a C++ exception (std::bad_alloc, or a
// Node-API failure once worker.terminate() is under way) must never unwind through libcurl.

size_t EasyHandle::CollectBody(char* data, size_t size, size_t count, void* userp) {
  auto* self = static_cast<EasyHandle*>(userp);
  if (self->abortPending_) return 0;
  if (self->multi != nullptr) self->multi->NoteDelivery(self->handle_);
  const size_t n = size * count;
  try {
    // The length is the server's word: the body buffer only trusts it so far.
    curl_off_t length = -1;
    if (self->body_.size() == 0) {
      curl_easy_getinfo(self->handle_, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
    }
    self->body_.Append(self->Env(), data, n, length, self->CanCallJs());
  } catch (...) {
    return 0;  // CURLE_WRITE_ERROR
  }
  return n;
}

size_t EasyHandle::CollectHeader(char* data, size_t size, size_t count, void* userp) {
  auto* self = static_cast<EasyHandle*>(userp);
  if (self->abortPending_) return 0;
  if (self->multi != nullptr) self->multi->NoteDelivery(self->handle_);
  try {
    self->headers_.insert(self->headers_.end(), data, data + size * count);
  } catch (...) {
    return 0;
  }
  return size * count;
}

size_t EasyHandle::CallDataFunction(Napi::FunctionReference& fn, char* data, size_t length) {
  if (!CanCallJs()) return 0;
  NoteJs();
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  try {
    Napi::Value result = fn.Call(Value(), {Napi::Buffer<char>::Copy(env, data, length)});
    if (result.IsUndefined()) return length;
    if (result.IsNumber()) return static_cast<size_t>(result.As<Napi::Number>().Int64Value());
    throw Napi::TypeError::New(env, "a write or header function must return a number or nothing");
  } catch (const Napi::Error& error) {
    RecordCallbackError(error.Value());
    return 0;
  } catch (...) {
    abortPending_ = true;
    return 0;
  }
}

size_t EasyHandle::JsWrite(char* data, size_t size, size_t count, void* userp) {
  auto* self = static_cast<EasyHandle*>(userp);
  if (self->multi != nullptr) self->multi->NoteDelivery(self->handle_);
  return self->CallDataFunction(self->write_, data, size * count);
}

size_t EasyHandle::JsHeader(char* data, size_t size, size_t count, void* userp) {
  auto* self = static_cast<EasyHandle*>(userp);
  if (self->multi != nullptr) self->multi->NoteDelivery(self->handle_);
  return self->CallDataFunction(self->header_, data, size * count);
}

size_t EasyHandle::JsRead(char* data, size_t size, size_t count, void* userp) {
  auto* self = static_cast<EasyHandle*>(userp);
  if (!self->CanCallJs()) return CURL_READFUNC_ABORT;
  self->NoteJs();
  Napi::Env env = self->Env();
  Napi::HandleScope scope(env);
  const size_t room = size * count;
  try {
    Napi::Value result =
        self->read_.Call(self->Value(), {Napi::Number::New(env, static_cast<double>(room))});
    if (result.IsNull() || result.IsUndefined()) return 0;
    if (result.IsNumber()) {
      // Only the codes: JS cannot write into `data`, so a count would make libcurl send that
      // many bytes of whatever its upload buffer held (uninitialised or stale heap).
      const double code = result.As<Napi::Number>().DoubleValue();
      if (code == 0 || code == CURL_READFUNC_PAUSE || code == CURL_READFUNC_ABORT) {
        return static_cast<size_t>(code);
      }
      throw Napi::TypeError::New(env,
                                 "READFUNCTION returned the number " + std::to_string(code) +
                                     ": return the data itself, null at the end, READFUNC_PAUSE "
                                     "or READFUNC_ABORT");
    }
    std::string bytes;
    if (!ToBytes(result, bytes)) {
      throw Napi::TypeError::New(
          env, "READFUNCTION must return a Buffer, Uint8Array, string, number or null");
    }
    if (bytes.size() > room) {
      throw Napi::RangeError::New(env, "READFUNCTION returned " + std::to_string(bytes.size()) +
                                           " bytes, more than the " + std::to_string(room) +
                                           " asked for");
    }
    std::memcpy(data, bytes.data(), bytes.size());
    return bytes.size();
  } catch (const Napi::Error& error) {
    self->RecordCallbackError(error.Value());
    return CURL_READFUNC_ABORT;
  } catch (...) {
    self->abortPending_ = true;
    return CURL_READFUNC_ABORT;
  }
}

// The read function when JS set none: an empty body (see ApplyInternalOptions).
size_t EasyHandle::NoBody(char*, size_t, size_t, void*) {
  return 0;
}

int EasyHandle::JsSeek(void* userp, curl_off_t offset, int origin) {
  auto* self = static_cast<EasyHandle*>(userp);
  if (!self->CanCallJs()) return CURL_SEEKFUNC_FAIL;
  self->NoteJs();
  Napi::Env env = self->Env();
  Napi::HandleScope scope(env);
  try {
    Napi::Value result =
        self->seek_.Call(self->Value(), {FromOffT(env, offset), Napi::Number::New(env, origin)});
    return result.IsNumber() ? result.As<Napi::Number>().Int32Value() : CURL_SEEKFUNC_OK;
  } catch (const Napi::Error& error) {
    self->RecordCallbackError(error.Value());
    return CURL_SEEKFUNC_FAIL;
  } catch (...) {
    self->abortPending_ = true;
    return CURL_SEEKFUNC_FAIL;
  }
}

int EasyHandle::JsXferInfo(void* userp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                           curl_off_t ulnow) {
  auto* self = static_cast<EasyHandle*>(userp);
  if (!self->CanCallJs()) return 1;
  self->NoteJs();
  Napi::Env env = self->Env();
  Napi::HandleScope scope(env);
  try {
    Napi::Value result =
        self->xferinfo_.Call(self->Value(), {FromOffT(env, dltotal), FromOffT(env, dlnow),
                                             FromOffT(env, ultotal), FromOffT(env, ulnow)});
    if (result.IsNumber()) return result.As<Napi::Number>().Int32Value();
    if (result.IsBoolean()) return result.As<Napi::Boolean>().Value() ? 1 : 0;
    return 0;
  } catch (const Napi::Error& error) {
    self->RecordCallbackError(error.Value());
    return 1;
  } catch (...) {
    self->abortPending_ = true;
    return 1;
  }
}

int EasyHandle::JsDebug(CURL*, curl_infotype type, char* data, size_t size, void* userp) {
  auto* self = static_cast<EasyHandle*>(userp);
  if (!self->CanCallJs()) return 0;
  self->NoteJs();
  Napi::Env env = self->Env();
  Napi::HandleScope scope(env);
  try {
    self->debug_.Call(self->Value(), {Napi::Number::New(env, static_cast<int>(type)),
                                      Napi::Buffer<char>::Copy(env, data, size)});
  } catch (const Napi::Error& error) {
    // The debug callback cannot fail a transfer itself; the next data callback does.
    self->RecordCallbackError(error.Value());
  } catch (...) {
    self->abortPending_ = true;
  }
  return 0;
}

}  // namespace multisock
