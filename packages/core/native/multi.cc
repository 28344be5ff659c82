#include "multi.h"

#include <sys/socket.h>
#include <unistd.h>

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

const napi_type_tag kLoopTag = {MULTISOCK_LOOP_TAG_LOWER, MULTISOCK_LOOP_TAG_UPPER};

// A socket or timer callback's return value: 0 or nothing is success, -1 is the seed's error.
// Anything else (a Promise above all: libcurl cannot wait for it) is refused the same way,
// with a cause saying what came back; a refused Promise's rejection is handled here, so it
// does not surface again as an unhandled rejection.
Napi::Value CallbackFailure(Napi::Env env, const char* option, const Napi::Value& result) {
  if (result.IsUndefined()) return Napi::Value();
  if (result.IsNumber()) {
    double rc = result.As<Napi::Number>().DoubleValue();
    if (rc == -1) return Napi::Error::New(env, std::string(option) + " returned -1").Value();
    return Napi::Value();  // libcurl ignores any other number (docs/contract.md#return-values)
  }
  std::string what = "a value of type " + std::string(result.IsString()    ? "string"
                                                      : result.IsBoolean() ? "boolean"
                                                      : result.IsNull()    ? "null"
                                                                           : "object");
  if (result.IsPromise()) {
    what = "a Promise";
    Napi::Object promise = result.As<Napi::Object>();
    Napi::Value then = promise.Get("then");
    if (then.IsFunction()) {
      then.As<Napi::Function>().Call(
          promise, {env.Undefined(), Napi::Function::New(env, [](const Napi::CallbackInfo&) {})});
    }
  }
  return Napi::TypeError::New(env, std::string(option) + " returned " + what +
                                       ": it runs inside libcurl and must return 0, -1 or "
                                       "nothing (an async function cannot be one)")
      .Value();
}

}  // namespace

// Why a callback aborted the multi's transfers, shared by every transfer it failed.
struct MultiHandle::AbortCause {
  JsValueRef js;  // the error a JS callback threw, or made from loopError at delivery
  int loopError = 0;
  std::string loopDetail;
};

Napi::Function MultiHandle::Init(Napi::Env env) {
  return DefineClass(env, "NativeMulti",
                     {
                         InstanceMethod<&MultiHandle::SetOpt>("setopt"),
                         InstanceMethod<&MultiHandle::AddHandle>("addHandle"),
                         InstanceMethod<&MultiHandle::RemoveHandle>("removeHandle"),
                         InstanceMethod<&MultiHandle::SocketAction>("socketAction"),
                         InstanceMethod<&MultiHandle::Assign>("assign"),
                         InstanceMethod<&MultiHandle::Close>("close"),
                         InstanceMethod<&MultiHandle::AttachLoop>("attachLoop"),
                         InstanceMethod<&MultiHandle::DetachLoop>("detachLoop"),
                         InstanceMethod<&MultiHandle::LoopStats>("loopStats"),
                         InstanceMethod<&MultiHandle::SetTrace>("setTrace"),
                         InstanceMethod<&MultiHandle::FailNextNativeSocket>("failNextNativeSocket"),
                         InstanceMethod<&MultiHandle::TakeTrace>("takeTrace"),
                         // Methods, not accessors (see EasyHandle::Init); the TypeScript class
                         // has the getters.
                         InstanceMethod<&MultiHandle::GetClosed>("isClosed"),
                         InstanceMethod<&MultiHandle::GetInCallback>("isInCallback"),
                     });
}

MultiHandle::MultiHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<MultiHandle>(info) {
  multi_ = curl_multi_init();
  if (multi_ == nullptr) throw MultiError(info.Env(), CURLM_OUT_OF_MEMORY, "curl_multi_init");
  // The C callbacks are installed for good; they call JS or the native loop, whichever is set.
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

void MultiHandle::Trace(int32_t kind, int32_t a, int32_t b, int32_t c, int32_t d) {
  trace_.insert(trace_.end(), {kind, a, b, c, d});
}

// --- callbacks from libcurl --------------------------------------------------------------------

void MultiHandle::RecordAbort(Napi::Value error) {
  if (!aborted_) abortCause_.Set(error);
  aborted_ = true;
}

void MultiHandle::RecordLoopFailure(int error) {
  if (!aborted_) {
    loopFailure_ = error;
    const char* detail = loop_->last_error != nullptr ? loop_->last_error(loopState_) : nullptr;
    loopFailureDetail_ = detail != nullptr ? detail : "";
  }
  aborted_ = true;
}

// libcurl's socket callback, handled by the native loop.
void MultiHandle::NativeSocket(CURL* easy, curl_socket_t socket, int what, void* socketp) {
  unsigned flags = 0;
  auto open = openSockets_.find(socket);
  if (what != CURL_POLL_REMOVE) {
    if (socketp == nullptr) {
      // Marks the socket in libcurl's hash, so the next call for it is not fresh. libcurl
      // forgets the mark at REMOVE (docs/contract.md#remove-forgets-socketp).
      flags |= MULTISOCK_SOCKET_FRESH;
      curl_multi_assign(multi_, socket, this);
    }
    // Watched for reading means connected: from then on libcurl closes it through
    // OnCloseSocket (see openSockets_).
    if (open != openSockets_.end() && (what & CURL_POLL_IN) != 0) open->second = true;
  }
  if (open != openSockets_.end() && open->second) flags |= MULTISOCK_SOCKET_TRACKED;
  int rc = loop_->socket(loopState_, socket, what, flags);
  if (rc >= 0 && !injectedFailure_.empty() && what != CURL_POLL_REMOVE) {
    rc = -EIO;
    loopFailureDetail_ = std::move(injectedFailure_);
    injectedFailure_.clear();
    if (!aborted_) loopFailure_ = rc;
    aborted_ = true;
  } else if (rc < 0) {
    RecordLoopFailure(rc);
  }
  if (tracing_) {
    multisock_loop_stats stats{-1, -1};
    if (loop_->stats != nullptr) loop_->stats(loopState_, &stats);
    EasyHandle* owner = EasyHandle::FromCurl(easy);
    const int32_t known = owner != nullptr && owner->multi == this ? 1 : 0;
    Trace(kTraceSocket, socket, what, known | static_cast<int32_t>(flags << 1),
          stats.registrations);
  }
}

// libcurl's timer callback (and the kick of a new attachment), handled by the native loop.
void MultiHandle::NativeTimer(long timeoutMs) {
  int rc = loop_->timer(loopState_, timeoutMs);
  if (tracing_) {
    multisock_loop_stats stats{-1, -1};
    if (loop_->stats != nullptr) loop_->stats(loopState_, &stats);
    const long ms = std::max<long>(-1, std::min<long>(timeoutMs, INT32_MAX));
    Trace(kTraceTimer, static_cast<int32_t>(ms), 0, 0, stats.timer_armed);
  }
  if (rc < 0) RecordLoopFailure(rc);
}

int MultiHandle::OnSocket(CURL* easy, curl_socket_t socket, int what, void* userp, void* socketp) {
  auto* self = static_cast<MultiHandle*>(userp);
  // What libcurl watches, whoever drives the multi: libcurl only ever reports changes, so a loop
  // attached later is told the current set (AttachLoop).
  if (what == CURL_POLL_REMOVE) {
    self->watched_.erase(socket);
  } else {
    self->watched_[socket] = what;
  }
  if (self->loop_ != nullptr) {
    self->NativeSocket(easy, socket, what, socketp);
    return 0;  // never -1 (docs/contract.md#a-failing-callback)
  }
  if (!self->socketFunction_.IsEmpty() && self->CanCallJs()) {
    // No C++ exception may unwind through libcurl. Once worker.terminate() is under way every
    // Node-API call fails, even recording the error: the transfers are aborted all the same.
    try {
      Napi::Env env = self->Env();
      Napi::HandleScope scope(env);
      // Only a transfer the application added to this multi is passed on: libcurl also names its
      // internal handles here (docs/contract.md#easy-may-be-internal).
      EasyHandle* owner = EasyHandle::FromCurl(easy);
      Napi::Value easyValue =
          owner != nullptr && owner->multi == self ? owner->Value() : Napi::Value(env.Null());
      auto entry = self->socketps_.find(socket);
      Napi::Value socketpValue =
          entry == self->socketps_.end() ? Napi::Value(env.Null()) : entry->second.Get(env);
      try {
        JsCallbackScope inCallback(self->jsCallbackDepth_);
        Napi::Value result = self->socketFunction_.Call(
            env.Undefined(),
            {easyValue, Napi::Number::New(env, socket), Napi::Number::New(env, what),
             self->socketData_.IsEmpty() ? env.Null() : self->socketData_.Get(env), socketpValue});
        Napi::Value failure = CallbackFailure(env, "SOCKETFUNCTION", result);
        if (!failure.IsEmpty()) self->RecordAbort(failure);
      } catch (const Napi::Error& error) {
        self->RecordAbort(error.Value());
      }
    } catch (...) {
      self->aborted_ = true;
    }
  }
  // libcurl forgets socketp at REMOVE, and so do we (docs/contract.md#remove-forgets-socketp).
  if (what == CURL_POLL_REMOVE) self->socketps_.erase(socket);
  // Never -1: on 7.88.1 it corrupts the socket hash. A failure is recorded and acted on once
  // libcurl has returned (docs/contract.md#a-failing-callback).
  return 0;
}

int MultiHandle::OnTimer(CURLM*, long timeoutMs, void* userp) {
  auto* self = static_cast<MultiHandle*>(userp);
  if (self->loop_ != nullptr) {
    self->NativeTimer(timeoutMs);
    return 0;
  }
  if (self->timerFunction_.IsEmpty() || !self->CanCallJs()) return 0;
  try {  // no C++ exception through libcurl: see OnSocket
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    try {
      JsCallbackScope inCallback(self->jsCallbackDepth_);
      Napi::Value result = self->timerFunction_.Call(
          env.Undefined(), {self->Value(), Napi::Number::New(env, static_cast<double>(timeoutMs)),
                            self->timerData_.IsEmpty() ? env.Null() : self->timerData_.Get(env)});
      Napi::Value failure = CallbackFailure(env, "TIMERFUNCTION", result);
      if (!failure.IsEmpty()) self->RecordAbort(failure);
    } catch (const Napi::Error& error) {
      self->RecordAbort(error.Value());
    }
  } catch (...) {
    self->aborted_ = true;
  }
  return 0;  // see OnSocket
}

curl_socket_t MultiHandle::OnOpenSocket(void* userp, curlsocktype, curl_sockaddr* address) {
  // Close-on-exec: a child process Node spawns must not inherit libcurl's connections.
  curl_socket_t socket =
      ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
  if (socket == CURL_SOCKET_BAD) return CURL_SOCKET_BAD;
  if (userp != nullptr) static_cast<MultiHandle*>(userp)->openSockets_[socket] = false;
  return socket;
}

int MultiHandle::OnCloseSocket(void* userp, curl_socket_t socket) {
  if (userp != nullptr) {
    auto* self = static_cast<MultiHandle*>(userp);
    if (self->openSockets_.erase(socket) > 0 && self->loop_ != nullptr) {
      self->loop_->closed(self->loopState_, socket);
    }
  }
  return ::close(socket);
}

// --- what a native loop adapter calls ------------------------------------------------------------

// libcurl 7.88.0 to 8.0.1 can strand an HTTP/2 stream whose last frames it has read off the socket:
// a transfer reading the connection leaves another stream's frames parsed-but-unhandled in the
// connection's buffer (its DATA did not fit that transfer's receive buffer), marks that stream
// for draining but sets no timer, and the socket, drained, signals nothing more. The stream ends
// only when it times out or the server closes the connection (h2o after 10 s idle). The
// Client's larger receive buffer makes it rare (client/easy-options.ts, H2_STALL_BUFFER); this
// makes it impossible: after an action on a socket that delivered HTTP/2 response bytes, the
// socket is run again, as readable, until a run delivers nothing. libcurl reads what it holds
// and finds the kernel empty. Fixed in 8.1.0 (curl commit 744dcf22fa); later versions never
// re-run. The runs are libcurl's own business: they are not traced.
const bool MultiHandle::kStrandsHttp2Streams = [] {
  const unsigned version = curl_version_info(CURLVERSION_NOW)->version_num;
  return version >= 0x075800 && version < 0x080100;
}();

CURLMcode MultiHandle::RunSocket(curl_socket_t socket, int bits, int* running) {
  http2Delivered_ = false;
  CURLMcode code = curl_multi_socket_action(multi_, socket, bits, running);
  // Bounded: a stream that keeps delivering has bytes in the kernel, which signal readiness.
  for (int run = 0; run < 16 && http2Delivered_ && socket != CURL_SOCKET_TIMEOUT &&
                    code == CURLM_OK && multi_ != nullptr;
       ++run) {
    http2Delivered_ = false;
    code = curl_multi_socket_action(multi_, socket, CURL_CSELECT_IN, running);
  }
  http2Delivered_ = false;
  return code;
}

int MultiHandle::ApiAction(multisock_multi* multi, curl_socket_t socket, int bits) {
  auto* self = reinterpret_cast<MultiHandle*>(multi);
  // Closed, or no native loop any more: an adapter must not act after detach.
  if (self->multi_ == nullptr || self->loop_ == nullptr) return CURLM_BAD_HANDLE;
  if (self->depth_ > 0) {
    // From inside a socket or timer function: libcurl would refuse it too.
    if (self->tracing_) self->Trace(kTraceAction, socket, bits, kActionRefused, 0);
    return CURLM_RECURSIVE_API_CALL;
  }
  if (self->tracing_) self->Trace(kTraceAction, socket, bits, 0, 0);
  int running = 0;  // never NULL: 7.88.1 writes it unconditionally
  ++self->depth_;
  CURLMcode code = self->RunSocket(socket, bits & 7, &running);
  --self->depth_;
  self->Collect();
  return code;
}

void MultiHandle::ApiFlush(multisock_multi* multi) {
  auto* self = reinterpret_cast<MultiHandle*>(multi);
  if (self->tracing_) self->Trace(kTraceTurn, 0, 0, 0, 0);
  if ((self->finished_.empty() && !self->jsRan_) || self->depth_ > 0 || !self->CanCallJs()) return;
  self->jsRan_ = false;
  Napi::Env env = self->Env();
  Napi::HandleScope scope(env);
  // Through napi_make_callback, as Node calls its own callbacks: promise reactions and
  // process.nextTick callbacks (from perform() and from JS callbacks that ran during this turn's
  // actions) run right after. An exception goes to 'uncaughtException'.
  try {
    Napi::Object object = self->Value();
    self->Deliver(env, object, true);
  } catch (const Napi::Error& error) {
    napi_fatal_exception(env, error.Value());
  } catch (...) {
  }
}

// --- finished transfers ------------------------------------------------------------------------

void MultiHandle::NoteJsRan() {
  jsRan_ = true;
}

void MultiHandle::RemoveFinished(EasyHandle* easy, CURLcode result,
                                 const std::shared_ptr<AbortCause>& cause) {
  ++depth_;
  curl_multi_remove_handle(multi_, easy->curl());
  --depth_;
  finished_.push_back({easy, true, result, cause});  // takes over the Easy's pin
  RemoveFromList(easy);
  easy->multi = nullptr;
  easy->autoRemove = false;
  if (added_.empty()) Unref();  // see AddHandle
}

std::shared_ptr<MultiHandle::AbortCause> MultiHandle::Collect() {
  int queued = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_, &queued)) {
    if (msg->msg != CURLMSG_DONE) continue;
    EasyHandle* easy = EasyHandle::FromCurl(msg->easy_handle);
    if (easy == nullptr || easy->multi != this) continue;
    const CURLcode result = msg->data.result;  // the message dies with remove_handle
    // A performed Easy stays added until the delivery removes it: removed now, it would shrink
    // libcurl's connection cache (by default 4 connections per added handle) for the rest of the
    // loop turn, and connections finishing in it would be closed rather than kept.
    if (easy->autoRemove) easy->finishedPending = true;
    finished_.push_back({easy, false, result, nullptr});
  }
  if (!aborted_) return nullptr;
  // A callback failed: every transfer in progress fails with CURLE_ABORTED_BY_CALLBACK, as the
  // seed documents. Removing them (rather than letting 7.88.1 run its broken path) leaves the
  // multi consistent and usable for new transfers (docs/contract.md#a-failing-callback).
  auto cause = std::make_shared<AbortCause>();
  cause->js = std::move(abortCause_);
  cause->loopError = loopFailure_;
  cause->loopDetail = std::move(loopFailureDetail_);
  std::vector<EasyHandle*> inProgress;
  for (EasyHandle* easy : added_) {
    bool finished = false;
    for (const Finished& f : finished_) finished = finished || f.easy == easy;
    if (!finished) inProgress.push_back(easy);
  }
  for (EasyHandle* easy : inProgress) RemoveFinished(easy, CURLE_ABORTED_BY_CALLBACK, cause);
  // The removals call the socket callback again (REMOVE): what it does then is part of the same
  // failure.
  aborted_ = false;
  abortCause_.Reset();
  loopFailure_ = 0;
  loopFailureDetail_.clear();
  return cause;
}

Napi::Value MultiHandle::CauseValue(Napi::Env env, AbortCause& cause) {
  if (!cause.js.IsEmpty()) return cause.js.Get(env);
  Napi::Value error;
  if (cause.loopError != 0) {
    std::string detail = cause.loopDetail.empty()
                             ? std::string(loop_ != nullptr ? loop_->name : "loop") +
                                   " adapter: " + strerror(-cause.loopError)
                             : cause.loopDetail;
    if (!loopErrorFactory_.IsEmpty()) {
      error = loopErrorFactory_.Call(
          {Napi::Number::New(env, -cause.loopError), Napi::String::New(env, detail)});
    } else {
      error = Napi::Error::New(env, detail).Value();
    }
  } else {
    error = Napi::Error::New(env, "a socket or timer callback failed").Value();
  }
  cause.js.Set(error);
  return error;
}

void MultiHandle::RemovePending(Finished& f) {
  EasyHandle* easy = f.easy;
  ++depth_;
  curl_multi_remove_handle(multi_, easy->curl());
  --depth_;
  RemoveFromList(easy);
  easy->multi = nullptr;
  easy->autoRemove = false;
  easy->finishedPending = false;
  f.removed = true;             // the entry holds the Easy's pin from here
  if (added_.empty()) Unref();  // see AddHandle
}

void MultiHandle::Deliver(Napi::Env env, Napi::Object self, bool fromLoop) {
  std::vector<Finished> batch;
  batch.swap(finished_);
  // perform()'s Easys leave the multi before their promises settle.
  for (Finished& f : batch) {
    if (!f.removed && f.easy->finishedPending) RemovePending(f);
  }
  // [easy, result, easy, result, ...]: one call for every transfer that finished.
  Napi::Array done = Napi::Array::New(env, batch.size() * 2);
  uint32_t i = 0;
  for (Finished& f : batch) {
    Napi::Object easy = f.easy->Value();
    if (f.removed) f.easy->Unpin();  // the local handle holds it from here
    if (f.cause) f.easy->FailTransfer(CauseValue(env, *f.cause));
    done.Set(i++, easy);
    done.Set(i++, Napi::Number::New(env, f.result));
  }
  Napi::Function deliver = self.Get(Data(env).doneHook.Value()).As<Napi::Function>();
  if (fromLoop) {
    deliver.MakeCallback(self, {done}, *asyncContext_);
  } else {
    deliver.Call(self, {done});
  }
}

// --- after a libcurl call from JS --------------------------------------------------------------

void MultiHandle::Leave(Napi::Env env) {
  if (--depth_ > 0 || multi_ == nullptr) return;
  // Holds the JS object for what follows: removing the last Easy below unpins the Multi, and
  // Leave may run for Easy.pause(), where no JS frame holds the Multi.
  Napi::Object self = Value();
  std::shared_ptr<AbortCause> cause = Collect();
  if (!finished_.empty()) Deliver(env, self, false);
  jsRan_ = false;
  if (cause) {
    Napi::Error error = MultiError(env, CURLM_ABORTED_BY_CALLBACK,
                                   "a socket or timer callback failed; every transfer in "
                                   "progress was aborted");
    error.Set("cause", CauseValue(env, *cause));
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
    if (!clear && loop_ != nullptr) {
      throw MultiError(env, CURLM_BAD_FUNCTION_ARGUMENT,
                       "setopt(" + name + "): the Multi is driven by the native " + loop_->name +
                           " adapter; detach() it first");
    }
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

// addHandle(easy, autoRemove, url?): with autoRemove (perform()) the Easy is removed natively as
// soon as it finishes, before JS hears of it.
Napi::Value MultiHandle::AddHandle(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckUsable(env, "addHandle");
  EasyHandle* easy = ToEasy(env, info[0], "addHandle");
  if (easy->multi != nullptr) {
    throw MultiError(env, CURLM_ADDED_ALREADY,
                     easy->multi == this ? "addHandle: the Easy is already added to this Multi"
                                         : "addHandle: the Easy is added to another Multi");
  }
  const bool autoRemove = info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
  // addHandle(easy, autoRemove, url): the URL set in the same call (the Client's one crossing
  // per request).
  if (info.Length() > 2 && !info[2].IsUndefined()) easy->SetUrl(env, info[2]);
  if (autoRemove && loop_ == nullptr && socketFunction_.IsEmpty() && timerFunction_.IsEmpty()) {
    // The promise would never settle: nothing is told to call socketAction.
    throw MultiError(env, CURLM_BAD_FUNCTION_ARGUMENT,
                     "perform: nothing drives this Multi; attach a loop adapter (e.g. "
                     "libuv.attach(multi)) or set SOCKETFUNCTION and TIMERFUNCTION first");
  }
  easy->PrepareTransfer(this);
  // Book-keeping first: the timer callback runs inside curl_multi_add_handle.
  easy->multi = this;
  easy->autoRemove = autoRemove;
  easy->Pin();
  AddToList(easy);
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

void MultiHandle::AddToList(EasyHandle* easy) {
  easy->addedIndex = added_.size();
  added_.push_back(easy);
}

bool MultiHandle::RemoveFromList(EasyHandle* easy) {
  const size_t i = easy->addedIndex;
  if (i >= added_.size() || added_[i] != easy) return false;
  added_[i] = added_.back();
  added_[i]->addedIndex = i;
  added_.pop_back();
  return true;
}

void MultiHandle::Detach(EasyHandle* easy) {
  if (RemoveFromList(easy) && added_.empty()) Unref();  // see AddHandle
  easy->multi = nullptr;
  easy->autoRemove = false;
  easy->finishedPending = false;
  easy->Unpin();
}

Napi::Value MultiHandle::RemoveHandle(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckUsable(env, "removeHandle");
  EasyHandle* easy = ToEasy(env, info[0], "removeHandle");
  // Not added (libcurl: CURLM_OK), or finished and on its way out with its delivery.
  if (easy->multi == nullptr || easy->finishedPending) return env.Undefined();
  if (easy->multi != this) {
    throw MultiError(env, CURLM_BAD_EASY_HANDLE,
                     "removeHandle: the Easy is added to another Multi");
  }
  RemoveFromJs(env, easy, "removeHandle");
  return env.Undefined();
}

void MultiHandle::ClearFinished() {
  for (Finished& f : finished_) {
    if (f.removed) f.easy->Unpin();
  }
  finished_.clear();
}

void MultiHandle::DropFinished(EasyHandle* easy) {
  // libcurl drops a removed handle's queued message, and so do we (docs/contract.md#remove-handle).
  for (auto it = finished_.begin(); it != finished_.end(); ++it) {
    if (it->easy == easy && !it->removed) {
      finished_.erase(it);
      return;
    }
  }
}

void MultiHandle::RemoveFromJs(Napi::Env env, EasyHandle* easy, const char* where) {
  CheckUsable(env, where);
  [[maybe_unused]] Napi::Object keep =
      easy->Value();  // alive until the callbacks of the removal have run
  if (easy->finishedPending) {
    // Finished (Easy.close() before the delivery): removed now, still delivered as finished.
    for (Finished& f : finished_) {
      if (f.easy == easy && !f.removed) RemovePending(f);
    }
    return;
  }
  DropFinished(easy);
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
    DropFinished(easy);
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
  int32_t fd = ToFd(info[0], "socketAction");
  double bits = info[1].IsUndefined() ? 0
                : info[1].IsNumber()  ? info[1].As<Napi::Number>().DoubleValue()
                                      : NAN;
  if (tracing_ && loop_ != nullptr) {
    const bool refused = multi_ == nullptr || depth_ > 0;
    Trace(kTraceAction, fd, std::isfinite(bits) ? static_cast<int32_t>(bits) : -1,
          kActionFromJs | (refused ? kActionRefused : 0), 0);
  }
  CheckUsable(env, "socketAction");
  if (!(bits >= 0 && bits <= 7) || std::trunc(bits) != bits) {
    throw MultiError(env, CURLM_BAD_FUNCTION_ARGUMENT,
                     "socketAction: the event mask must be a combination of CSelect.IN, OUT "
                     "and ERR");
  }
  int running = 0;  // never NULL: 7.88.1 writes it unconditionally
  Enter();
  CURLMcode code = RunSocket(static_cast<curl_socket_t>(fd), static_cast<int>(bits), &running);
  if (code != CURLM_OK) {
    --depth_;
    throw MultiError(env, code, "socketAction");
  }
  Leave(env);
  return Napi::Number::New(env, running);
}

Napi::Value MultiHandle::Assign(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // Allowed inside callbacks, as in libcurl (docs/contract.md#assign).
  if (multi_ == nullptr) throw MultiError(env, CURLM_BAD_HANDLE, "assign: the Multi is closed");
  if (loop_ != nullptr) {
    throw MultiError(env, CURLM_BAD_FUNCTION_ARGUMENT,
                     std::string("assign: the Multi is driven by the native ") + loop_->name +
                         " adapter, which owns the sockets' associations");
  }
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

// --- the native loop ---------------------------------------------------------------------------

// attachLoop(loop: External, owner: object | undefined, makeError: function | undefined)
Napi::Value MultiHandle::AttachLoop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckUsable(env, "attach");
  Napi::Value loop = info[0];
  if (!loop.IsExternal() || !loop.As<Napi::Object>().CheckTypeTag(&kLoopTag)) {
    throw Napi::TypeError::New(env,
                               "attach: expected a native loop (the External a multisock loop "
                               "adapter's addon makes)");
  }
  auto* ref = loop.As<Napi::External<multisock_loop_ref>>().Data();
  if (ref == nullptr || ref->table == nullptr || ref->table->version != MULTISOCK_LOOP_VERSION) {
    throw Napi::TypeError::New(env,
                               "attach: the native loop was built for another version of "
                               "multisock/loop.h (rebuild the adapter)");
  }
  if (loop_ != nullptr) {
    throw MultiError(env, CURLM_ADDED_ALREADY,
                     std::string("attach: this Multi is already attached to the ") + loop_->name +
                         " adapter; detach() it first");
  }
  if (!socketFunction_.IsEmpty() || !timerFunction_.IsEmpty()) {
    throw MultiError(env, CURLM_ADDED_ALREADY,
                     "attach: this Multi's SOCKETFUNCTION or TIMERFUNCTION is set, so JavaScript "
                     "(another adapter?) drives it; detach that first");
  }
  if (!info[2].IsUndefined() && !info[2].IsFunction()) {
    throw Napi::TypeError::New(env, "attach: makeError must be a function");
  }
  static const multisock_core_api kApi = {MULTISOCK_LOOP_VERSION, ApiAction, ApiFlush};
  int error = 0;
  void* state =
      ref->table->attach(ref->loop, reinterpret_cast<multisock_multi*>(this), &kApi, &error);
  if (state == nullptr) {
    std::string detail = std::string("attach: the ") + ref->table->name +
                         " adapter failed: " + strerror(error < 0 ? -error : ENOMEM);
    if (info[2].IsFunction()) {
      throw Napi::Error(env, info[2].As<Napi::Function>().Call(
                                 {Napi::Number::New(env, error < 0 ? -error : ENOMEM),
                                  Napi::String::New(env, detail)}));
    }
    throw Napi::Error::New(env, detail);
  }
  loop_ = ref->table;
  loopState_ = state;
  Napi::Object hold = Napi::Object::New(env);
  hold.Set("loop", loop);
  hold.Set("owner", info[1]);
  loopHold_ = Napi::Persistent(hold);
  if (info[2].IsFunction()) loopErrorFactory_ = Napi::Persistent(info[2].As<Napi::Function>());
  asyncContext_ = std::make_unique<Napi::AsyncContext>(env, "multisock.done", Value());
  // While attached the multi is pinned, as JS callbacks pin it: the loop calls into it.
  Ref();
  // Sockets libcurl announced before the attach (to a previous attachment, or to nobody) are
  // announced again, as new: libcurl will not repeat them. Then the timer runs the transfers.
  std::vector<std::pair<curl_socket_t, int>> watched(watched_.begin(), watched_.end());
  for (const auto& [socket, what] : watched) {
    curl_multi_assign(multi_, socket, nullptr);  // so NativeSocket sees it as fresh
    NativeSocket(nullptr, socket, what, nullptr);
  }
  if (!added_.empty()) NativeTimer(0);
  return env.Undefined();
}

void MultiHandle::ReleaseLoop() {
  if (loop_ == nullptr) return;
  const multisock_loop* loop = loop_;
  void* state = loopState_;
  loop_ = nullptr;
  loopState_ = nullptr;
  loop->detach(state);
  Unref();  // see AttachLoop
  loopHold_.Reset();
  loopErrorFactory_.Reset();
  asyncContext_.reset();
}

Napi::Value MultiHandle::DetachLoop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (depth_ > 0) {
    // The adapter's own code is on the stack (it called into libcurl): freeing it now would
    // pull its state from under it.
    throw MultiError(env, CURLM_RECURSIVE_API_CALL,
                     "detach: called from inside a libcurl callback; detach on a later turn of "
                     "the loop");
  }
  // What finished in this turn and was not flushed yet still reaches JS.
  if (!finished_.empty() && multi_ != nullptr) Deliver(env, Value(), false);
  ReleaseLoop();
  return env.Undefined();
}

// [name, registrations, timerArmed] of the native loop, or null.
Napi::Value MultiHandle::LoopStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (loop_ == nullptr) return env.Null();
  multisock_loop_stats stats{0, 0};
  if (loop_->stats != nullptr) loop_->stats(loopState_, &stats);
  Napi::Array result = Napi::Array::New(env, 3);
  result.Set(0u, loop_->name);
  result.Set(1u, stats.registrations);
  result.Set(2u, stats.timer_armed != 0);
  return result;
}

// failNextNativeSocket(detail): the next socket callback a native loop handles counts as failed
// (the conformance suite's fault injection; the abort rule then applies).
Napi::Value MultiHandle::FailNextNativeSocket(const Napi::CallbackInfo& info) {
  injectedFailure_ = ToName(info[0], "failNextNativeSocket");
  if (injectedFailure_.empty()) injectedFailure_ = "injected failure";
  return info.Env().Undefined();
}

Napi::Value MultiHandle::SetTrace(const Napi::CallbackInfo& info) {
  tracing_ = info[0].IsBoolean() && info[0].As<Napi::Boolean>().Value();
  if (!tracing_) trace_.clear();
  return info.Env().Undefined();
}

// The trace since the last call, 5 int32 per record: [kind, a, b, c, d].
Napi::Value MultiHandle::TakeTrace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Int32Array out = Napi::Int32Array::New(env, trace_.size());
  std::copy(trace_.begin(), trace_.end(), out.Data());
  trace_.clear();
  return out;
}

// --- closing -----------------------------------------------------------------------------------

void MultiHandle::CloseHandle() {
  // Remove every handle, then clean up (docs/contract.md#cleanup). Callbacks may run in both.
  std::vector<EasyHandle*> easies(added_);
  ++depth_;
  for (EasyHandle* easy : easies) {
    curl_multi_remove_handle(multi_, easy->curl());
    Detach(easy);
  }
  curl_multi_cleanup(multi_);
  --depth_;
  multi_ = nullptr;
  // libcurl may close its last sockets in cleanup without a REMOVE: nothing of this multi may
  // stay registered with any loop.
  ReleaseLoop();
  openSockets_.clear();
  watched_.clear();
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
  Napi::Object self = Value();
  // Transfers that finished before the close are reported as finished.
  if (!finished_.empty()) Deliver(env, self, false);
  CloseHandle();
  ClearFinished();
  Data(env).multis.erase(this);
  if (aborted_) {
    Napi::Value cause = abortCause_.IsEmpty() ? Napi::Value(env.Undefined()) : abortCause_.Get(env);
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
  ClearFinished();
  aborted_ = false;
  abortCause_.Reset();
  Data(Env()).multis.erase(this);
}

Napi::Value MultiHandle::GetClosed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), multi_ == nullptr);
}

Napi::Value MultiHandle::GetInCallback(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), depth_ > 0);
}

}  // namespace multisock
