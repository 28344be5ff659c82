// Multi: one libcurl multi handle driven through the multi-socket interface. Socket and timer
// callbacks reach JS with the seed contract's arguments; a callback that fails aborts every
// transfer the documented way without ever letting libcurl 7.88.1 see a -1 (CONTRACT statements
// 16, 17, 23, 28); no libcurl API is re-entered from inside a libcurl callback.
#pragma once

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

  // Every libcurl call that may run callbacks is bracketed by Enter/Leave. Leave, at the
  // outermost level, hands finished transfers to JS and reports a callback's abort (throws).
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

 private:
  Napi::Value SetOpt(const Napi::CallbackInfo& info);
  Napi::Value AddHandle(const Napi::CallbackInfo& info);
  Napi::Value RemoveHandle(const Napi::CallbackInfo& info);
  Napi::Value SocketAction(const Napi::CallbackInfo& info);
  Napi::Value Assign(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetClosed(const Napi::CallbackInfo& info);
  Napi::Value GetInCallback(const Napi::CallbackInfo& info);

  void CheckUsable(Napi::Env env, const char* where) const;
  EasyHandle* ToEasy(Napi::Env env, const Napi::Value& value, const char* where) const;
  void Detach(EasyHandle* easy);
  void CloseHandle();
  void RecordAbort(Napi::Value error);

  static int OnSocket(CURL* easy, curl_socket_t socket, int what, void* userp, void* socketp);
  static int OnTimer(CURLM* multi, long timeoutMs, void* userp);
  bool CanCallJs() const;

  CURLM* multi_ = nullptr;
  int depth_ = 0;
  int jsCallbackDepth_ = 0;  // see InSocketOrTimerCallback
  bool silent_ = false;      // removing an Easy from its finalizer: no JS may run
  Napi::FunctionReference socketFunction_, timerFunction_;
  JsValueRef socketData_, timerData_;
  std::unordered_map<curl_socket_t, JsValueRef> socketps_;  // curl_multi_assign values
  std::unordered_set<EasyHandle*> added_;
  std::vector<std::string> siteBlacklist_, serverBlacklist_;
  bool aborted_ = false;
  JsValueRef abortCause_;
};

}  // namespace multisock
