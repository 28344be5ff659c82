#include "multi.h"

#include <cmath>

#include "easy.h"

namespace multisock {

namespace {

struct MultiOption {
  CURLMoption id;
  const char* type;
};

const std::unordered_map<std::string, MultiOption>& MultiOptions() {
  static const std::unordered_map<std::string, MultiOption> table = {
#define MULTISOCK_MULTI_OPTION(n, t) {#n, {CURLMOPT_##n, #t}},
#define MULTISOCK_INFO(n)
#define MULTISOCK_EASY_CODE(n)
#define MULTISOCK_MULTI_CODE(n)
#include "tables.inc"
#undef MULTISOCK_MULTI_OPTION
#undef MULTISOCK_INFO
#undef MULTISOCK_EASY_CODE
#undef MULTISOCK_MULTI_CODE
  };
  return table;
}

Napi::Error BadValue(Napi::Env env, const std::string& name, const char* expected) {
  return MultiError(env, CURLM_BAD_FUNCTION_ARGUMENT, "setopt(" + name + "): expected " + expected);
}

// Counts a socket or timer callback's JS on the stack, even when it throws.
struct JsCallbackScope {
  explicit JsCallbackScope(int& depth) : depth_(depth) { ++depth_; }
  ~JsCallbackScope() { --depth_; }
  int& depth_;
};

}  // namespace

Napi::Function MultiHandle::Init(Napi::Env env) {
  return DefineClass(env, "NativeMulti",
                     {
                         InstanceMethod<&MultiHandle::SetOpt>("setopt"),
                         InstanceMethod<&MultiHandle::AddHandle>("addHandle"),
                         InstanceMethod<&MultiHandle::RemoveHandle>("removeHandle"),
                         InstanceMethod<&MultiHandle::SocketAction>("socketAction"),
                         InstanceMethod<&MultiHandle::Assign>("assign"),
                         InstanceMethod<&MultiHandle::Close>("close"),
                         InstanceAccessor<&MultiHandle::GetClosed>("closed"),
                         InstanceAccessor<&MultiHandle::GetInCallback>("inCallback"),
                     });
}

MultiHandle::MultiHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<MultiHandle>(info) {
  multi_ = curl_multi_init();
  if (multi_ == nullptr) throw MultiError(info.Env(), CURLM_OUT_OF_MEMORY, "curl_multi_init");
  // The C callbacks are installed for good; whether JS is called depends on what JS set.
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, OnSocket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, OnTimer);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  Data(info.Env()).multis.insert(this);
  info.This().As<Napi::Object>().TypeTag(&kMultiTag);
}

MultiHandle::~MultiHandle() {
  Teardown();
}

bool MultiHandle::CanCallJs() const {
  return !silent_ && !Data(Env()).tearingDown;
}

void MultiHandle::CheckUsable(Napi::Env env, const char* where) const {
  if (multi_ == nullptr) {
    throw MultiError(env, CURLM_BAD_HANDLE, std::string(where) + ": the Multi is closed");
  }
  if (depth_ > 0) {
    throw MultiError(env, CURLM_RECURSIVE_API_CALL,
                     std::string(where) + ": called from inside a libcurl callback");
  }
}

EasyHandle* MultiHandle::ToEasy(Napi::Env env, const Napi::Value& value, const char* where) const {
  if (!EasyHandle::IsEasy(env, value)) {
    throw MultiError(env, CURLM_BAD_EASY_HANDLE, std::string(where) + ": expected an Easy");
  }
  EasyHandle* easy = EasyHandle::Unwrap(value.As<Napi::Object>());
  if (easy->closed()) {
    throw MultiError(env, CURLM_BAD_EASY_HANDLE, std::string(where) + ": the Easy is closed");
  }
  return easy;
}

// --- callbacks from libcurl --------------------------------------------------------------------

void MultiHandle::RecordAbort(Napi::Value error) {
  if (!aborted_) abortCause_.Set(error);
  aborted_ = true;
}

int MultiHandle::OnSocket(CURL* easy, curl_socket_t socket, int what, void* userp, void*) {
  auto* self = static_cast<MultiHandle*>(userp);
  if (!self->socketFunction_.IsEmpty() && self->CanCallJs()) {
    // No C++ exception may unwind through libcurl. Once worker.terminate() is under way every
    // Node-API call fails, even recording the error: the transfers are aborted all the same.
    try {
      Napi::Env env = self->Env();
      Napi::HandleScope scope(env);
      // Only a transfer the application added to this multi is passed on (CONTRACT statement 7).
      EasyHandle* owner = EasyHandle::FromCurl(easy);
      Napi::Value easyValue =
          owner != nullptr && owner->multi == self ? owner->Value() : Napi::Value(env.Null());
      auto socketp = self->socketps_.find(socket);
      Napi::Value socketpValue =
          socketp == self->socketps_.end() ? Napi::Value(env.Null()) : socketp->second.Get(env);
      try {
        JsCallbackScope inCallback(self->jsCallbackDepth_);
        Napi::Value result = self->socketFunction_.Call(
            env.Undefined(),
            {easyValue, Napi::Number::New(env, socket), Napi::Number::New(env, what),
             self->socketData_.IsEmpty() ? env.Null() : self->socketData_.Get(env), socketpValue});
        if (result.IsNumber() && result.As<Napi::Number>().DoubleValue() == -1) {
          self->RecordAbort(Napi::Error::New(env, "SOCKETFUNCTION returned -1").Value());
        }
      } catch (const Napi::Error& error) {
        self->RecordAbort(error.Value());
      }
    } catch (...) {
      self->aborted_ = true;
    }
  }
  // libcurl forgets socketp at REMOVE (CONTRACT statement 12), and so do we.
  if (what == CURL_POLL_REMOVE) self->socketps_.erase(socket);
  // Never -1: on 7.88.1 it corrupts the socket hash (statement 17). A failure is recorded and
  // acted on once libcurl has returned (Leave).
  return 0;
}

int MultiHandle::OnTimer(CURLM*, long timeoutMs, void* userp) {
  auto* self = static_cast<MultiHandle*>(userp);
  if (self->timerFunction_.IsEmpty() || !self->CanCallJs()) return 0;
  try {  // no C++ exception through libcurl: see OnSocket
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    try {
      JsCallbackScope inCallback(self->jsCallbackDepth_);
      Napi::Value result = self->timerFunction_.Call(
          env.Undefined(), {self->Value(), Napi::Number::New(env, static_cast<double>(timeoutMs)),
                            self->timerData_.IsEmpty() ? env.Null() : self->timerData_.Get(env)});
      if (result.IsNumber() && result.As<Napi::Number>().DoubleValue() == -1) {
        self->RecordAbort(Napi::Error::New(env, "TIMERFUNCTION returned -1").Value());
      }
    } catch (const Napi::Error& error) {
      self->RecordAbort(error.Value());
    }
  } catch (...) {
    self->aborted_ = true;
  }
  return 0;  // see OnSocket (statement 23)
}

// --- after a libcurl call ----------------------------------------------------------------------

void MultiHandle::Leave(Napi::Env env) {
  if (--depth_ > 0 || multi_ == nullptr) return;
  // Holds the JS object for what follows: removing the last Easy below unpins the Multi, and
  // Leave may run for Easy.pause(), where no JS frame holds the Multi.
  Napi::Object self = Value();
  // Copy the messages out first: their pointers die with remove_handle (statement 32).
  struct Done {
    EasyHandle* easy;
    Napi::Object object;
    CURLcode result;
  };
  std::vector<Done> done;
  int queued = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_, &queued)) {
    if (msg->msg != CURLMSG_DONE) continue;
    EasyHandle* easy = EasyHandle::FromCurl(msg->easy_handle);
    if (easy != nullptr && easy->multi == this) {
      done.push_back({easy, easy->Value(), msg->data.result});
    }
  }
  Napi::Value cause = env.Undefined();
  if (aborted_) {
    // A callback failed: every transfer in progress fails with CURLE_ABORTED_BY_CALLBACK, as
    // the seed documents. Removing them (rather than letting 7.88.1 run its broken path)
    // leaves the multi consistent and usable for new transfers.
    cause = abortCause_.Get(env);
    std::vector<EasyHandle*> inProgress;
    for (EasyHandle* easy : added_) {
      bool finished = false;
      for (const Done& d : done) finished = finished || d.easy == easy;
      if (!finished) inProgress.push_back(easy);
    }
    for (EasyHandle* easy : inProgress) {
      Napi::Object object = easy->Value();
      ++depth_;
      curl_multi_remove_handle(multi_, easy->curl());
      --depth_;
      Detach(easy);
      easy->FailTransfer(cause);
      done.push_back({easy, object, CURLE_ABORTED_BY_CALLBACK});
    }
    aborted_ = false;
    abortCause_.Reset();
  }
  if (!done.empty()) {
    Napi::Symbol hook = Data(env).doneHook.Value();
    Napi::Function deliver = self.Get(hook).As<Napi::Function>();
    // Every message is delivered even if one delivery throws, so no perform() is left waiting;
    // the first error is rethrown afterwards.
    Napi::Value failure;
    for (const Done& d : done) {
      try {
        deliver.Call(self, {d.object, Napi::Number::New(env, d.result)});
      } catch (const Napi::Error& error) {
        if (failure.IsEmpty()) failure = error.Value();
      }
    }
    if (!failure.IsEmpty()) throw Napi::Error(env, failure);
  }
  if (!cause.IsUndefined()) {
    Napi::Error error = MultiError(env, CURLM_ABORTED_BY_CALLBACK,
                                   "a socket or timer callback failed; every transfer in "
                                   "progress was aborted");
    error.Set("cause", cause);
    throw error;
  }
}

// --- JS API ------------------------------------------------------------------------------------

Napi::Value MultiHandle::SetOpt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckUsable(env, "setopt");
  std::string name = ToName(info[0], "setopt");
  const auto& table = MultiOptions();
  auto it = table.find(name);
  if (it == table.end()) {
    throw MultiError(env, CURLM_UNKNOWN_OPTION, "setopt: unknown option '" + name + "'");
  }
  Napi::Value value = info[1];
  const bool clear = value.IsNull() || value.IsUndefined();
  const CURLMoption id = it->second.id;
  const std::string type = it->second.type;
  if (id == CURLMOPT_SOCKETFUNCTION || id == CURLMOPT_TIMERFUNCTION) {
    if (!clear && !value.IsFunction()) throw BadValue(env, name, "a function or null");
    Napi::FunctionReference& slot =
        id == CURLMOPT_SOCKETFUNCTION ? socketFunction_ : timerFunction_;
    if (clear) {
      slot.Reset();
    } else {
      slot = Napi::Persistent(value.As<Napi::Function>());
    }
    return env.Undefined();
  }
  if (id == CURLMOPT_SOCKETDATA || id == CURLMOPT_TIMERDATA) {
    JsValueRef& slot = id == CURLMOPT_SOCKETDATA ? socketData_ : timerData_;
    if (value.IsUndefined()) {
      slot.Reset();
    } else {
      slot.Set(value);
    }
    return env.Undefined();
  }
  CURLMcode code;
  if (id == CURLMOPT_PIPELINING_SITE_BL || id == CURLMOPT_PIPELINING_SERVER_BL) {
    std::vector<std::string>& store =
        id == CURLMOPT_PIPELINING_SITE_BL ? siteBlacklist_ : serverBlacklist_;
    std::vector<std::string> strings;
    if (!clear) {
      if (!value.IsArray()) throw BadValue(env, name, "an array of strings or null");
      Napi::Array array = value.As<Napi::Array>();
      for (uint32_t i = 0; i < array.Length(); i++) {
        Napi::Value item = array.Get(i);
        if (!item.IsString()) throw BadValue(env, name, "an array of strings or null");
        strings.push_back(item.As<Napi::String>().Utf8Value());
      }
    }
    std::vector<char*> pointers;
    for (std::string& s : strings) pointers.push_back(s.data());
    pointers.push_back(nullptr);
    code = curl_multi_setopt(multi_, id, clear ? nullptr : pointers.data());
    if (code == CURLM_OK) store = std::move(strings);
  } else if (type == "LONG") {
    double d = value.IsBoolean()  ? (value.As<Napi::Boolean>().Value() ? 1 : 0)
               : value.IsNumber() ? value.As<Napi::Number>().DoubleValue()
                                  : NAN;
    if (!std::isfinite(d) || std::trunc(d) != d || std::fabs(d) > 2147483647.0) {
      throw BadValue(env, name, "an integer");
    }
    code = curl_multi_setopt(multi_, id, static_cast<long>(d));
  } else if (type == "OFF_T") {
    double d = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : NAN;
    if (!std::isfinite(d) || std::trunc(d) != d || std::fabs(d) > 9007199254740991.0) {
      throw BadValue(env, name, "a safe integer");
    }
    code = curl_multi_setopt(multi_, id, static_cast<curl_off_t>(d));
  } else {
    throw MultiError(env, CURLM_BAD_FUNCTION_ARGUMENT,
                     "setopt(" + name + "): this option is not available from JavaScript");
  }
  if (code != CURLM_OK) throw MultiError(env, code, "setopt(" + name + ")");
  return env.Undefined();
}

Napi::Value MultiHandle::AddHandle(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckUsable(env, "addHandle");
  EasyHandle* easy = ToEasy(env, info[0], "addHandle");
  if (easy->multi != nullptr) {
    throw MultiError(env, CURLM_ADDED_ALREADY,
                     easy->multi == this ? "addHandle: the Easy is already added to this Multi"
                                         : "addHandle: the Easy is added to another Multi");
  }
  easy->PrepareTransfer();
  // Book-keeping first: the timer callback runs inside curl_multi_add_handle (statement 19).
  easy->multi = this;
  easy->addedRef = Napi::Persistent(info[0].As<Napi::Object>());
  added_.insert(easy);
  // An added Easy can reach this Multi without its JS object (Easy.close(), pause(), the multi
  // getter): the Multi is pinned while it has one, or it could be collected while still in use
  // and its timer callback handed an empty handle (segfault).
  if (added_.size() == 1) Ref();
  Enter();
  CURLMcode code = curl_multi_add_handle(multi_, easy->curl());
  if (code != CURLM_OK) {
    --depth_;
    Detach(easy);
    throw MultiError(env, code, "addHandle");
  }
  Leave(env);
  return env.Undefined();
}

void MultiHandle::Detach(EasyHandle* easy) {
  if (added_.erase(easy) > 0 && added_.empty()) Unref();  // see AddHandle
  easy->multi = nullptr;
  easy->addedRef.Reset();
}

Napi::Value MultiHandle::RemoveHandle(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckUsable(env, "removeHandle");
  EasyHandle* easy = ToEasy(env, info[0], "removeHandle");
  if (easy->multi == nullptr) return env.Undefined();  // libcurl: CURLM_OK (statement 31)
  if (easy->multi != this) {
    throw MultiError(env, CURLM_BAD_EASY_HANDLE,
                     "removeHandle: the Easy is added to another Multi");
  }
  RemoveFromJs(env, easy, "removeHandle");
  return env.Undefined();
}

void MultiHandle::RemoveFromJs(Napi::Env env, EasyHandle* easy, const char* where) {
  CheckUsable(env, where);
  [[maybe_unused]] Napi::Object keep =
      easy->Value();  // alive until the callbacks of the removal have run
  Enter();
  CURLMcode code = curl_multi_remove_handle(multi_, easy->curl());
  Detach(easy);
  if (code != CURLM_OK) {
    --depth_;
    throw MultiError(env, code, where);
  }
  Leave(env);
}

void MultiHandle::ForgetEasy(EasyHandle* easy) {
  if (multi_ != nullptr) {
    ++depth_;
    silent_ = true;
    curl_multi_remove_handle(multi_, easy->curl());
    silent_ = false;
    --depth_;
  }
  Detach(easy);
}

Napi::Value MultiHandle::SocketAction(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckUsable(env, "socketAction");
  int32_t fd = ToFd(info[0], "socketAction");
  double bits = info[1].IsUndefined() ? 0
                : info[1].IsNumber()  ? info[1].As<Napi::Number>().DoubleValue()
                                      : NAN;
  if (!(bits >= 0 && bits <= 7) || std::trunc(bits) != bits) {
    throw MultiError(env, CURLM_BAD_FUNCTION_ARGUMENT,
                     "socketAction: the event mask must be a combination of CSelect.IN, OUT "
                     "and ERR");
  }
  int running = 0;  // never NULL: 7.88.1 writes it unconditionally (statement 25)
  Enter();
  CURLMcode code = curl_multi_socket_action(multi_, static_cast<curl_socket_t>(fd),
                                            static_cast<int>(bits), &running);
  if (code != CURLM_OK) {
    --depth_;
    throw MultiError(env, code, "socketAction");
  }
  Leave(env);
  return Napi::Number::New(env, running);
}

Napi::Value MultiHandle::Assign(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // Allowed inside callbacks, as in libcurl (statement 33).
  if (multi_ == nullptr) throw MultiError(env, CURLM_BAD_HANDLE, "assign: the Multi is closed");
  int32_t fd = ToFd(info[0], "assign");
  Napi::Value value = info[1];
  const bool clear = value.IsNull() || value.IsUndefined();
  // libcurl stores a marker; the JS value lives here, keyed by the socket.
  CURLMcode code = curl_multi_assign(multi_, fd, clear ? nullptr : this);
  if (code != CURLM_OK) throw MultiError(env, code, "assign(" + std::to_string(fd) + ")");
  if (clear) {
    socketps_.erase(fd);
  } else {
    socketps_[fd].Set(value);
  }
  return env.Undefined();
}

void MultiHandle::CloseHandle() {
  // Order per statement 34: remove every handle, then clean up. Callbacks may run in both.
  std::vector<EasyHandle*> easies(added_.begin(), added_.end());
  ++depth_;
  for (EasyHandle* easy : easies) {
    curl_multi_remove_handle(multi_, easy->curl());
    Detach(easy);
  }
  curl_multi_cleanup(multi_);
  --depth_;
  multi_ = nullptr;
  socketps_.clear();
  socketFunction_.Reset();
  timerFunction_.Reset();
  socketData_.Reset();
  timerData_.Reset();
}

Napi::Value MultiHandle::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (multi_ == nullptr) return env.Undefined();
  if (depth_ > 0) {
    throw MultiError(env, CURLM_RECURSIVE_API_CALL, "close: called from inside a libcurl callback");
  }
  [[maybe_unused]] Napi::Object keep = Value();
  CloseHandle();
  Data(env).multis.erase(this);
  if (aborted_) {
    Napi::Value cause = abortCause_.Get(env);
    aborted_ = false;
    abortCause_.Reset();
    Napi::Error error = MultiError(env, CURLM_ABORTED_BY_CALLBACK,
                                   "close: a socket callback failed while the Multi closed");
    error.Set("cause", cause);
    throw error;
  }
  return env.Undefined();
}

void MultiHandle::Teardown() {
  if (multi_ == nullptr) return;
  // No JS may run here (finalizer or environment teardown): callbacks are dropped first.
  socketFunction_.Reset();
  timerFunction_.Reset();
  CloseHandle();
  aborted_ = false;
  abortCause_.Reset();
  Data(Env()).multis.erase(this);
}

Napi::Value MultiHandle::GetClosed(const Napi::CallbackInfo& info) {
  CheckReceiver(info, kMultiTag);
  return Napi::Boolean::New(info.Env(), multi_ == nullptr);
}

Napi::Value MultiHandle::GetInCallback(const Napi::CallbackInfo& info) {
  CheckReceiver(info, kMultiTag);
  return Napi::Boolean::New(info.Env(), depth_ > 0);
}

}  // namespace multisock
