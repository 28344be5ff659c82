// Easy: one libcurl easy handle. Options are set by name from libcurl's own option table,
// checked against the option's type. Without JS write/header callbacks the body and headers are
// collected natively and handed over once.
#pragma once

#include <unordered_map>
#include <vector>

#include "body.h"
#include "common.h"

namespace multisock {

class EasyHandle : public Napi::ObjectWrap<EasyHandle> {
 public:
  static Napi::Function Init(Napi::Env env);
  static bool IsEasy(Napi::Env env, const Napi::Value& value);
  // The EasyHandle behind a libcurl handle, or nullptr for a handle multisock did not make
  // (libcurl's internal handles: docs/contract.md#easy-may-be-internal).
  static EasyHandle* FromCurl(CURL* handle);

  explicit EasyHandle(const Napi::CallbackInfo& info);
  ~EasyHandle() override;

  CURL* curl() const { return handle_; }
  bool closed() const { return handle_ == nullptr; }

  // Bookkeeping done by MultiHandle while the handle is added to it.
  MultiHandle* multi = nullptr;
  // While added (and until a finished transfer is delivered) the Easy is pinned: it stays alive
  // without any JS reference to it. The wrapper's own reference is made strong, which costs no
  // new reference per transfer.
  void Pin() {
    if (!pinned_) Ref();
    pinned_ = true;
  }
  void Unpin() {
    if (pinned_) Unref();
    pinned_ = false;
  }
  size_t addedIndex = 0;    // its place in the multi's added_ list
  bool autoRemove = false;  // perform(): removed natively once it finishes
  // Finished with autoRemove and waiting for the delivery, which removes it: to JS it is no
  // longer added (multi is null, removeHandle is a no-op).
  bool finishedPending = false;
  // A new transfer in `owner`: fresh body and header buffers, no error left from the last one,
  // and libcurl's socket open/close calls reported to the owner.
  void PrepareTransfer(MultiHandle* owner);
  // setopt(URL, value), remembering the URL (see TakeResponse).
  void SetUrl(Napi::Env env, const Napi::Value& value);
  void FailTransfer(Napi::Value error);
  void ReleaseNative();  // curl_easy_cleanup without JS, for finalizers and teardown

  static Napi::Value ListOptions(const Napi::CallbackInfo& info);

 private:
  Napi::Value SetOpt(const Napi::CallbackInfo& info);
  Napi::Value GetInfo(const Napi::CallbackInfo& info);
  Napi::Value GetInfos(const Napi::CallbackInfo& info);
  Napi::Value Info(Napi::Env env, const std::string& name);
  Napi::Value Pause(const Napi::CallbackInfo& info);
  Napi::Value Reset(const Napi::CallbackInfo& info);
  Napi::Value DupHandle(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetClosed(const Napi::CallbackInfo& info);
  Napi::Value GetMulti(const Napi::CallbackInfo& info);
  Napi::Value TakeResponse(const Napi::CallbackInfo& info);
  Napi::Value TakeInto(const Napi::CallbackInfo& info);
  Napi::Value CarriesState(const Napi::CallbackInfo& info);
  Napi::Value TakeCallbackError(const Napi::CallbackInfo& info);
  Napi::Value ErrorText(const Napi::CallbackInfo& info);

  void CheckOpen(Napi::Env env, const char* where) const;
  void ApplyInternalOptions();
  void ClearOptionState();
  void SetOption(Napi::Env env, const struct curl_easyoption* option, const Napi::Value& value);
  void SetCallback(Napi::Env env, CURLoption id, const char* name, const Napi::Value& value);
  void SetSlist(Napi::Env env, CURLoption id, const char* name, const Napi::Value& value);
  void SetPostFields(Napi::Env env, const char* name, const Napi::Value& value);
  void Check(Napi::Env env, CURLcode code, const char* name);
  void CopyStateTo(EasyHandle& copy) const;

  // libcurl callbacks.
  static size_t CollectBody(char* data, size_t size, size_t count, void* userp);
  static size_t CollectHeader(char* data, size_t size, size_t count, void* userp);
  static size_t JsWrite(char* data, size_t size, size_t count, void* userp);
  static size_t JsHeader(char* data, size_t size, size_t count, void* userp);
  static size_t JsRead(char* data, size_t size, size_t count, void* userp);
  static size_t NoBody(char* data, size_t size, size_t count, void* userp);
  static int JsSeek(void* userp, curl_off_t offset, int origin);
  static int JsXferInfo(void* userp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                        curl_off_t ulnow);
  static int JsDebug(CURL* handle, curl_infotype type, char* data, size_t size, void* userp);
  size_t CallDataFunction(Napi::FunctionReference& fn, char* data, size_t length);
  bool CanCallJs() const;
  // Before a JS callback runs: tells the multi (see MultiHandle::NoteJsRan).
  void NoteJs();
  void RecordCallbackError(Napi::Value error);

  CURL* handle_ = nullptr;
  char errorBuffer_[CURL_ERROR_SIZE] = {0};
  BodyBuffer body_;
  std::string url_;  // the URL last set, to tell whether EFFECTIVE_URL differs
  std::vector<char> headers_;
  std::unordered_map<int, curl_slist*> slists_;
  // Lists replaced while the Easy was added: libcurl may still walk them (SMTP keeps a pointer
  // into MAIL_RCPT between server replies), so they are freed once it is in no transfer.
  std::vector<curl_slist*> retiredSlists_;
  // Length of the body set with POSTFIELDS, as libcurl's copy holds it; -1 without one.
  curl_off_t postFieldsSize_ = -1;
  JsValueRef private_;
  JsValueRef callbackError_;
  bool abortPending_ = false;  // a JS callback threw: fail the transfer at the next chance
  bool finalizing_ = false;    // in the destructor: no JS may run
  bool pinned_ = false;        // see Pin
  Napi::FunctionReference write_, header_, read_, seek_, xferinfo_, debug_;
};

}  // namespace multisock
