// What Poll and Timer share: the JS object <-> uv handle link, close/ref/unref, the strong
// reference held while the handle is active, and calling JS from a loop callback.
#pragma once

#include <string>
#include <vector>

#include "addon.h"

namespace multisock {

template <typename T>
class HandleWrap : public Napi::ObjectWrap<T>, public uv::Owner {
 public:
  explicit HandleWrap(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<T>(info),
        addon_(info.Env().GetInstanceData<Addon>()),
        async_context_(info.Env(), T::kName, info.This().As<Napi::Object>()) {
    info.This().As<Napi::Object>().TypeTag(&T::kTag);
  }

  // The finalizer: only an object that is not active gets here (an active one is pinned), so
  // its handle is simply closed; the box is freed in the close callback.
  ~HandleWrap() {
    if (box_ != nullptr) uv::Handles::Close(box_);
  }

  // Env teardown: the addon is closing every handle; forget ours. JS cannot run any more.
  void Detach() override {
    box_ = nullptr;
    closed_ = true;
  }

  using Properties = std::vector<Napi::ClassPropertyDescriptor<T>>;

  // The class with the shared members plus T's own.
  static Napi::Function DefineClass(Napi::Env env, Properties own) {
    using W = Napi::ObjectWrap<T>;
    own.push_back(W::InstanceMethod("close", &HandleWrap::CloseMethod));
    own.push_back(W::InstanceMethod("ref", &HandleWrap::RefMethod));
    own.push_back(W::InstanceMethod("unref", &HandleWrap::UnrefMethod));
    own.push_back(W::InstanceAccessor("active", &HandleWrap::ActiveGetter, nullptr));
    own.push_back(W::InstanceAccessor("closed", &HandleWrap::ClosedGetter, nullptr));
    return W::DefineClass(env, T::kName, own);
  }

 protected:
  Addon* addon() const { return addon_; }

  void SetRef(bool referenced) {
    referenced_ = referenced;
    if (box_ == nullptr) return;
    auto apply = referenced ? uv_ref : uv_unref;
    apply(&box_->handle);
    if (box_->has_idle) apply(reinterpret_cast<uv_handle_t*>(&box_->idle));
  }

  // Links a handle just initialised to this object and tracks it.
  void Adopt(Box* box) {
    addon_->handles().Track(box, this);
    box_ = box;
    if (!referenced_) SetRef(false);
  }

  // Unpins and closes the handle, if any; the object stays usable.
  void Release() {
    Unpin();
    if (box_ == nullptr) return;
    uv::Handles::Close(box_);  // uv_close stops the handle too
    box_ = nullptr;
  }

  // Keeps the callback reachable from the object itself (not from a persistent handle), so a
  // callback that closes over its own Poll or Timer does not make an uncollectable cycle.
  void SetCallback(Napi::Object self, Napi::Function callback) {
    self.DefineProperty(
        Napi::PropertyDescriptor::Value(addon_->CallbackKey(), callback, napi_default));
  }

  // Node-API checks the receiver of methods but not of accessors, and napi_unwrap hands back
  // whatever native object any addon wrapped: Reflect.get(Poll.prototype, 'active', other)
  // would read `other` as a Poll. Only an object with T's type tag is one.
  static void CheckReceiver(const Napi::CallbackInfo& info) {
    if (!info.This().IsObject() || !info.This().As<Napi::Object>().CheckTypeTag(&T::kTag)) {
      throw Napi::TypeError::New(info.Env(), "Illegal invocation");
    }
  }

  void CheckOpen(Napi::Env env) const {
    if (closed_) throw Napi::Error::New(env, std::string(T::kName) + " is closed");
  }

  // While the handle is active the object must stay alive so its loop callback can run.
  void Pin() {
    if (!pinned_) this->Ref();
    pinned_ = true;
  }
  void Unpin() {
    if (pinned_) this->Unref();
    pinned_ = false;
  }

  // Calls the JS callback from a loop callback as Node calls its own: MakeCallback in this
  // object's async context, so promise reactions run right after it, and an exception goes to
  // process 'uncaughtException'. The caller holds a HandleScope and a local to the object.
  void CallJs(Napi::Object self, std::initializer_list<napi_value> args) {
    napi_env env = self.Env();
    napi_value callback = nullptr;
    napi_value result = nullptr;
    napi_status status = napi_get_property(env, self, addon_->CallbackKey(), &callback);
    if (status == napi_ok) {
      status = napi_make_callback(env, async_context_, self, callback, args.size(), args.begin(),
                                  &result);
    }
    if (status == napi_ok) return;
    bool pending = false;
    napi_value error = nullptr;
    // Without a pending exception the env can no longer run JS (it is being torn down): the
    // event is dropped, as Node drops its own.
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
        napi_get_and_clear_last_exception(env, &error) == napi_ok) {
      napi_fatal_exception(env, error);
    }
    // worker.terminate() cut the callback short: what it was doing is lost, e.g. an adapter's
    // stop() of a Poll whose fd libcurl closed right after. libuv aborts the whole process at
    // its next epoll_ctl on such an fd, so once JS cannot run here every handle is closed now,
    // rather than at env teardown (no callback could reach JS any more anyway).
    bool has = false;
    if (napi_has_own_property(env, self, addon_->CallbackKey(), &has) != napi_ok) {
      addon_->CloseAll();
    }
  }

  Box* box_ = nullptr;  // the uv handle, if one is open

 private:
  void CloseMethod(const Napi::CallbackInfo&) {
    closed_ = true;
    Release();
  }
  // Remembered, so that a handle opened later (Poll opens one per start) gets the same state.
  void RefMethod(const Napi::CallbackInfo& info) {
    CheckOpen(info.Env());
    SetRef(true);
  }
  void UnrefMethod(const Napi::CallbackInfo& info) {
    CheckOpen(info.Env());
    SetRef(false);
  }
  Napi::Value ActiveGetter(const Napi::CallbackInfo& info) {
    CheckReceiver(info);
    return Napi::Boolean::New(info.Env(), box_ != nullptr && box_->IsActive());
  }
  Napi::Value ClosedGetter(const Napi::CallbackInfo& info) {
    CheckReceiver(info);
    return Napi::Boolean::New(info.Env(), closed_);
  }

  Addon* addon_;
  Napi::AsyncContext async_context_;
  bool pinned_ = false;
  bool closed_ = false;
  bool referenced_ = true;  // uv_ref state, applied to every handle this object opens
};

}  // namespace multisock
