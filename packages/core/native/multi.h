// Multi: one libcurl multi handle driven through the multi-socket interface. Socket and timer
// callbacks reach either JS, with the seed contract's arguments, or a native loop adapter
// (multisock/loop.h) that handles them without JS. A callback that fails aborts every transfer
// the documented way without ever letting libcurl 7.88.1 see a -1
// (docs/contract.md#a-failing-callback); no libcurl API is re-entered from inside a libcurl
// callback. Finished transfers are collected natively and handed to JS in one call: at the end
// of a JS call into libcurl, or once per loop turn when a native adapter drives the multi.
#pragma once

#include <multisock/loop.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common.h"

namespace multisock {

class MultiHandle : public Napi::ObjectWrap<MultiHandle> {
 public:
  static Napi::Function Init(Napi::Env env);

  explicit MultiHandle(const Napi::CallbackInfo& info);
  ~MultiHandle() override;

  // Every libcurl call made from JS that may run callbacks is bracketed by Enter/Leave. Leave,
  // at the outermost level, hands finished transfers to JS and reports a callback's abort
  // (throws).
  void Enter() { ++depth_; }
  void Leave(Napi::Env env);

  // Used by EasyHandle: close() of an added Easy, and its finalizer.
  void RemoveFromJs(Napi::Env env, EasyHandle* easy, const char* where);
  void ForgetEasy(EasyHandle* easy);

  // Closes without running JS: environment teardown and garbage collection.
  void Teardown();

  // True while a socket or timer callback of this multi runs JS. curl_easy_pause from there
  // re-enters libcurl's socket bookkeeping: on 7.88.1 a pause that drops the socket frees the
  // hash entry singlesocket() writes to once the callback returns (use after free).
  bool InSocketOrTimerCallback() const { return jsCallbackDepth_ > 0; }

  // An Easy's JS callback ran during a native loop's action: the turn's flush must run JS even
  // with nothing finished, so what that callback queued (promise reactions, nextTicks) runs.
  void NoteJsRan();

  // Response bytes reached `easy` during an action: on the libcurl versions that can strand an
  // HTTP/2 stream (see RunSocket), notes whether it was one.
  void NoteDelivery(CURL* easy) {
    if (kStrandsHttp2Streams && !http2Delivered_) {
      long version = 0;
      curl_easy_getinfo(easy, CURLINFO_HTTP_VERSION, &version);
      http2Delivered_ = version == CURL_HTTP_VERSION_2_0;
    }
  }

  // OPENSOCKETFUNCTION / CLOSESOCKETFUNCTION of every Easy added here: they tell a native
  // adapter exactly when a socket it may keep resources for dies.
  static curl_socket_t OnOpenSocket(void* userp, curlsocktype purpose, curl_sockaddr* address);
  static int OnCloseSocket(void* userp, curl_socket_t socket);

 private:
  Napi::Value SetOpt(const Napi::CallbackInfo& info);
  Napi::Value AddHandle(const Napi::CallbackInfo& info);
  Napi::Value RemoveHandle(const Napi::CallbackInfo& info);
  Napi::Value SocketAction(const Napi::CallbackInfo& info);
  // curl_multi_socket_action, and the re-runs a stranded HTTP/2 stream needs (multi.cc).
  CURLMcode RunSocket(curl_socket_t socket, int bits, int* running);
  static const bool kStrandsHttp2Streams;
  bool http2Delivered_ = false;
  Napi::Value Assign(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetClosed(const Napi::CallbackInfo& info);
  Napi::Value GetInCallback(const Napi::CallbackInfo& info);
  Napi::Value AttachLoop(const Napi::CallbackInfo& info);
  Napi::Value DetachLoop(const Napi::CallbackInfo& info);
  Napi::Value LoopStats(const Napi::CallbackInfo& info);
  Napi::Value SetTrace(const Napi::CallbackInfo& info);
  Napi::Value FailNextNativeSocket(const Napi::CallbackInfo& info);
  Napi::Value TakeTrace(const Napi::CallbackInfo& info);

  void CheckUsable(Napi::Env env, const char* where) const;
  EasyHandle* ToEasy(Napi::Env env, const Napi::Value& value, const char* where) const;
  void Detach(EasyHandle* easy);
  void CloseHandle();
  void RecordAbort(Napi::Value error);
  void RecordLoopFailure(int error);
  void ReleaseLoop();

  struct AbortCause;
  // Reads libcurl's finished transfers into finished_ (those added with autoRemove are removed
  // at delivery), and after a callback's abort fails every transfer in progress. Returns that
  // abort's cause, or null. Runs no JS.
  std::shared_ptr<AbortCause> Collect();
  // Removes a finished (or aborted) Easy natively and queues it for delivery.
  void RemoveFinished(EasyHandle* easy, CURLcode result, const std::shared_ptr<AbortCause>& cause);
  // Removes a performed Easy whose entry waits for delivery (see EasyHandle::finishedPending).
  struct Finished;
  void RemovePending(Finished& f);
  // Forgets the queued message of an Easy that is being removed.
  void DropFinished(EasyHandle* easy);
  // Forgets every undelivered transfer (closing).
  void ClearFinished();
  // Hands finished_ to JS in one call of Multi[doneHook]: through napi_make_callback when
  // called from the loop, a plain call from inside a JS call.
  void Deliver(Napi::Env env, Napi::Object self, bool fromLoop);
  Napi::Value CauseValue(Napi::Env env, AbortCause& cause);

  void NativeSocket(CURL* easy, curl_socket_t socket, int what, void* socketp);
  void NativeTimer(long timeoutMs);
  static int OnSocket(CURL* easy, curl_socket_t socket, int what, void* userp, void* socketp);
  static int OnTimer(CURLM* multi, long timeoutMs, void* userp);
  static int ApiAction(multisock_multi* multi, curl_socket_t socket, int bits);
  static void ApiFlush(multisock_multi* multi);
  bool CanCallJs() const;

  // --- the native trace (for the conformance suite; off unless turned on) ---------------------
  enum TraceKind : int32_t { kTraceSocket = 1, kTraceTimer = 2, kTraceAction = 3, kTraceTurn = 4 };
  // ACTION flags
  static constexpr int32_t kActionRefused = 1;  // inside a libcurl callback: not performed
  static constexpr int32_t kActionFromJs = 2;   // multi.socketAction() called by JS
  void Trace(int32_t kind, int32_t a, int32_t b, int32_t c, int32_t d);

  CURLM* multi_ = nullptr;
  int depth_ = 0;
  int jsCallbackDepth_ = 0;  // see InSocketOrTimerCallback
  bool silent_ = false;      // removing an Easy from its finalizer: no JS may run
  Napi::FunctionReference socketFunction_, timerFunction_;
  JsValueRef socketData_, timerData_;
  std::unordered_map<curl_socket_t, JsValueRef> socketps_;  // curl_multi_assign values
  // The Easys added here (each knows its index: no allocation per transfer).
  std::vector<EasyHandle*> added_;
  void AddToList(EasyHandle* easy);
  bool RemoveFromList(EasyHandle* easy);
  std::vector<std::string> siteBlacklist_, serverBlacklist_;
  // A socket or timer callback failed (JS threw or returned -1, or the loop adapter failed):
  // every transfer in progress fails once libcurl has returned.
  bool aborted_ = false;
  JsValueRef abortCause_;
  int loopFailure_ = 0;            // the adapter's negative errno, when it was the adapter
  std::string loopFailureDetail_;  // its last_error()
  // Sockets libcurl opened through OnOpenSocket and has not closed, each with whether it is
  // known to be connected. libcurl 7.88.1 closes a socket that never connected (a lost happy
  // eyeballs race, a failed connect) with a plain close(), without OnCloseSocket: only a socket
  // libcurl has watched for reading, which only a connected one is, is sure to report its close
  // (MULTISOCK_SOCKET_TRACKED). Entries of the others may go stale; they are never trusted.
  std::unordered_map<curl_socket_t, bool> openSockets_;
  std::string injectedFailure_;  // see FailNextNativeSocket
  // fd -> the what-bits libcurl last announced for it, REMOVEd ones gone (see OnSocket).
  std::unordered_map<curl_socket_t, int> watched_;

  // The native loop adapter driving this multi, while attached.
  const multisock_loop* loop_ = nullptr;
  void* loopState_ = nullptr;
  Napi::ObjectReference loopHold_;                    // the adapter's External and owner
  Napi::FunctionReference loopErrorFactory_;          // (errno, detail) => the adapter's error
  std::unique_ptr<Napi::AsyncContext> asyncContext_;  // for flush's napi_make_callback

  // Transfers finished and not yet handed to JS, in the order libcurl reported them.
  struct Finished {
    EasyHandle* easy;  // pinned until delivered
    // Removed natively (perform(), the abort rule): the entry holds the Easy's pin. Otherwise the
    // Easy is still added, and pinned by that.
    bool removed;
    CURLcode result;
    std::shared_ptr<AbortCause> cause;  // failed by the abort rule: the cause, attached at delivery
  };
  std::vector<Finished> finished_;
  bool jsRan_ = false;  // see NoteJsRan

  bool tracing_ = false;
  std::vector<int32_t> trace_;
};

}  // namespace multisock
