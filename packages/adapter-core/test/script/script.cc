// TEST ONLY: drives a native loop adapter's table (multisock/loop.h) directly, the way the core
// does, with scripted socket and timer calls on real fds, so the contract's unit rows can be
// provoked exactly (REMOVE of an unknown fd, NONE, EEXIST, a batch whose fd is re-announced...).
// It stands in for the core only: the adapter, its kernel set and the fds are real. Every
// api->action the adapter makes is recorded and can run a JS callback (as libcurl calls the
// socket callback from inside curl_multi_socket_action); an action from inside a table function
// is refused with CURLM_RECURSIVE_API_CALL and recorded as such, as the core does.
//
//   new Script(loop)             attach to the adapter whose External `loop` is
//   socket(fd, what, flags)      the socket function: 0 or -errno
//   timer(ms), closed(fd), detach()
//   stats(): [registrations, timerArmed], lastError(): string | null
//   onAction(fn | null)          fn(fd, bits) inside each action
//   take(): Int32Array           [kind, fd, bits]*: 1 action, 2 flush, 3 refused action
//   Script.epollAdd(epfd, fd), Script.dup2(from, to): kernel-side setup for a test (Linux)
#include <errno.h>
#include <multisock/loop.h>
#include <napi.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/epoll.h>
#endif

#include <cmath>
#include <string>
#include <vector>

namespace {

constexpr napi_type_tag kLoopTag = {MULTISOCK_LOOP_TAG_LOWER, MULTISOCK_LOOP_TAG_UPPER};

int32_t Int(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  }
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(v) || std::trunc(v) != v || v < INT32_MIN || v > INT32_MAX) {
    throw Napi::RangeError::New(info.Env(), std::string(name) + " must be an int32");
  }
  return static_cast<int32_t>(v);
}

class Script : public Napi::ObjectWrap<Script> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Script",
                       {
                           InstanceMethod<&Script::Socket>("socket"),
                           InstanceMethod<&Script::Timer>("timer"),
                           InstanceMethod<&Script::Closed>("closed"),
                           InstanceMethod<&Script::Stats>("stats"),
                           InstanceMethod<&Script::LastError>("lastError"),
                           InstanceMethod<&Script::OnAction>("onAction"),
                           InstanceMethod<&Script::Take>("take"),
                           InstanceMethod<&Script::Detach>("detach"),
                           StaticMethod<&Script::EpollAdd>("epollAdd"),
                           StaticMethod<&Script::Dup2>("dup2"),
                       });
  }

  explicit Script(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Script>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsExternal() ||
        !info[0].As<Napi::Object>().CheckTypeTag(&kLoopTag)) {
      throw Napi::TypeError::New(env, "Script: expected a native loop External");
    }
    auto* ref = info[0].As<Napi::External<multisock_loop_ref>>().Data();
    table_ = ref->table;
    loop_ = Napi::Persistent(info[0].As<Napi::Object>());
    env_ = env;
    api_ = {MULTISOCK_LOOP_VERSION, Action, Flush};
    int error = 0;
    state_ = table_->attach(ref->loop, reinterpret_cast<multisock_multi*>(this), &api_, &error);
    if (state_ == nullptr) {
      throw Napi::Error::New(env, std::string("attach failed: ") + strerror(-error));
    }
  }

  ~Script() override {
    if (state_ != nullptr) table_->detach(state_);
  }

 private:
  static Script* From(multisock_multi* multi) { return reinterpret_cast<Script*>(multi); }

  static int Action(multisock_multi* multi, curl_socket_t fd, int bits) {
    Script* self = From(multi);
    if (self->in_table_ > 0) {
      self->log_.insert(self->log_.end(), {3, fd, bits});
      return 8;  // CURLM_RECURSIVE_API_CALL
    }
    self->log_.insert(self->log_.end(), {1, fd, bits});
    if (!self->on_action_.IsEmpty()) {
      // No C++ exception may unwind through the adapter (as none may through libcurl): kept
      // and thrown by the next take().
      try {
        Napi::HandleScope scope(self->env_);
        self->on_action_.Call(
            {Napi::Number::New(self->env_, fd), Napi::Number::New(self->env_, bits)});
      } catch (const Napi::Error& error) {
        if (self->error_.IsEmpty()) self->error_ = Napi::Persistent(error.Value());
      }
    }
    return 0;
  }

  static void Flush(multisock_multi* multi) {
    Script* self = From(multi);
    self->log_.insert(self->log_.end(), {2, 0, 0});
  }

  void Require(Napi::Env env) {
    if (state_ == nullptr) throw Napi::Error::New(env, "Script: detached");
  }

  Napi::Value Socket(const Napi::CallbackInfo& info) {
    Require(info.Env());
    int fd = Int(info, 0, "fd");
    int what = Int(info, 1, "what");
    unsigned flags = static_cast<unsigned>(Int(info, 2, "flags"));
    in_table_++;
    int rc = table_->socket(state_, fd, what, flags);
    in_table_--;
    return Napi::Number::New(info.Env(), rc);
  }

  Napi::Value Timer(const Napi::CallbackInfo& info) {
    Require(info.Env());
    int ms = Int(info, 0, "ms");
    in_table_++;
    int rc = table_->timer(state_, ms);
    in_table_--;
    return Napi::Number::New(info.Env(), rc);
  }

  Napi::Value Closed(const Napi::CallbackInfo& info) {
    Require(info.Env());
    int fd = Int(info, 0, "fd");
    in_table_++;
    table_->closed(state_, fd);
    in_table_--;
    return info.Env().Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    multisock_loop_stats stats{0, 0};
    if (state_ != nullptr) table_->stats(state_, &stats);
    Napi::Array out = Napi::Array::New(env, 2);
    out.Set(0u, Napi::Number::New(env, stats.registrations));
    out.Set(1u, Napi::Boolean::New(env, stats.timer_armed != 0));
    return out;
  }

  Napi::Value LastError(const Napi::CallbackInfo& info) {
    const char* error = state_ != nullptr ? table_->last_error(state_) : nullptr;
    return error == nullptr ? info.Env().Null() : Napi::String::New(info.Env(), error);
  }

  Napi::Value OnAction(const Napi::CallbackInfo& info) {
    if (info.Length() > 0 && info[0].IsFunction()) {
      on_action_ = Napi::Persistent(info[0].As<Napi::Function>());
    } else {
      on_action_.Reset();
    }
    return info.Env().Undefined();
  }

  Napi::Value Take(const Napi::CallbackInfo& info) {
    if (!error_.IsEmpty()) {
      Napi::Value error = error_.Value();
      error_.Reset();
      throw Napi::Error(info.Env(), error);
    }
    Napi::Int32Array out = Napi::Int32Array::New(info.Env(), log_.size());
    for (size_t i = 0; i < log_.size(); i++) out[i] = log_[i];
    log_.clear();
    return out;
  }

  Napi::Value Detach(const Napi::CallbackInfo& info) {
    if (state_ != nullptr) {
      void* state = state_;
      state_ = nullptr;
      table_->detach(state);
    }
    on_action_.Reset();
    return info.Env().Undefined();
  }

  // epollAdd(epfd, fd): EPOLL_CTL_ADD of fd for EPOLLIN behind the adapter's back: 0 or -errno.
  static Napi::Value EpollAdd(const Napi::CallbackInfo& info) {
#ifdef __linux__
    epoll_event ev{};
    ev.events = EPOLLIN;
    int rc = epoll_ctl(Int(info, 0, "epfd"), EPOLL_CTL_ADD, Int(info, 1, "fd"), &ev);
    return Napi::Number::New(info.Env(), rc == 0 ? 0 : -errno);
#else
    return Napi::Number::New(info.Env(), -ENOSYS);
#endif
  }

  // dup2(from, to): 0 or -errno.
  static Napi::Value Dup2(const Napi::CallbackInfo& info) {
    int rc = ::dup2(Int(info, 0, "from"), Int(info, 1, "to"));
    return Napi::Number::New(info.Env(), rc < 0 ? -errno : 0);
  }

  const multisock_loop* table_ = nullptr;
  void* state_ = nullptr;
  multisock_core_api api_{};
  Napi::Reference<Napi::Object> loop_;
  Napi::FunctionReference on_action_;
  Napi::ObjectReference error_;
  napi_env env_ = nullptr;
  std::vector<int32_t> log_;
  int in_table_ = 0;
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Script", Script::Init(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(multisock_script, Init)
