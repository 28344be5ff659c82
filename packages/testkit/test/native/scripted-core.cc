// A scripted fake *core* for driving any native loop adapter's table (multisock/loop.h) directly,
// TEST ONLY. libcurl is not involved and not mocked: the test plays libcurl's part with a
// script of socket(fd, what, flags), timer(ms) and closed(fd) calls, on real fds and Node's real
// loop, and this object plays the core's part: it hands the adapter a multisock_core_api whose
// action and flush record every call (and refuse, as the core does, an action made from inside a
// table function). That reaches the unit rows of docs/contract.md#conformance the real libcurl
// cannot be made to provoke on demand.
#include "scripted-core.h"

#include <cmath>
#include <string>
#include <unordered_set>
#include <vector>

namespace testkit {
namespace {

const napi_type_tag kLoopTag = {MULTISOCK_LOOP_TAG_LOWER, MULTISOCK_LOOP_TAG_UPPER};
// Tags every ScriptedCore, so that its methods refuse another addon's wrapped object.
const napi_type_tag kCoreTag = {0x7465737463726531ULL, 0x7363726970746564ULL};

// Every method starts here: `this` must be a ScriptedCore (node-addon-api unwraps any wrapped
// object, of whatever class).
void CheckReceiver(const Napi::CallbackInfo& info) {
  Napi::Value self = info.This();
  if (!self.IsObject() || !self.As<Napi::Object>().CheckTypeTag(&kCoreTag)) {
    throw Napi::TypeError::New(info.Env(), "Illegal invocation: not a ScriptedCore");
  }
}

// Record kinds and flags (mirrored in test/native/index.ts).
enum Kind : int32_t { kAction = 1, kFlush = 2, kSocket = 3, kTimer = 4, kClosed = 5, kDetach = 6 };
constexpr int32_t kInsideTableCall = 1;  // action/flush from inside socket/timer/closed: refused
constexpr int32_t kAfterDetach = 2;      // action/flush once detach() returned
constexpr int32_t kFromScript = 0;       // origin of a call: the test's script
constexpr int32_t kFromReaction = 1;     // origin of a call: a reaction, inside an action

// CURLMcodes the fake returns, as the core does.
constexpr int kOk = 0;
constexpr int kBadHandle = 1;  // CURLM_BAD_HANDLE
constexpr int kRecursive = 8;  // CURLM_RECURSIVE_API_CALL

int32_t ToInt(const Napi::Value& value, double min, double max, const char* what) {
  if (!value.IsNumber()) {
    throw Napi::TypeError::New(value.Env(), std::string(what) + " must be an integer");
  }
  const double d = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::trunc(d) != d || d < min || d > max) {
    throw Napi::RangeError::New(value.Env(), std::string(what) + " must be an integer from " +
                                                 std::to_string(static_cast<long>(min)) + " to " +
                                                 std::to_string(static_cast<long>(max)));
  }
  return static_cast<int32_t>(d);
}

struct Step {
  Kind kind;
  int32_t a = 0, b = 0, c = 0;
};

}  // namespace

class ScriptedCore : public Napi::ObjectWrap<ScriptedCore> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "ScriptedCore",
                       {
                           InstanceMethod<&ScriptedCore::Socket>("socket"),
                           InstanceMethod<&ScriptedCore::Timer>("timer"),
                           InstanceMethod<&ScriptedCore::Closed>("closed"),
                           InstanceMethod<&ScriptedCore::Stats>("stats"),
                           InstanceMethod<&ScriptedCore::LastError>("lastError"),
                           InstanceMethod<&ScriptedCore::React>("react"),
                           InstanceMethod<&ScriptedCore::Take>("take"),
                           InstanceMethod<&ScriptedCore::Detach>("detach"),
                           InstanceAccessor<&ScriptedCore::GetName>("name"),
                           InstanceAccessor<&ScriptedCore::GetDetached>("detached"),
                       });
  }

  // new ScriptedCore(loop): attaches the table of `loop`, a multisock loop External.
  explicit ScriptedCore(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ScriptedCore>(info) {
    Napi::Env env = info.Env();
    Napi::Value loop = info[0];
    if (!loop.IsExternal() || !loop.As<Napi::Object>().CheckTypeTag(&kLoopTag)) {
      throw Napi::TypeError::New(env, "ScriptedCore: expected a native loop External");
    }
    auto* ref = loop.As<Napi::External<multisock_loop_ref>>().Data();
    if (ref == nullptr || ref->table == nullptr || ref->table->version != MULTISOCK_LOOP_VERSION) {
      throw Napi::TypeError::New(env, "ScriptedCore: the loop was built for another loop.h");
    }
    static const multisock_core_api kApi = {MULTISOCK_LOOP_VERSION, ApiAction, ApiFlush};
    int error = 0;
    state_ = ref->table->attach(ref->loop, reinterpret_cast<multisock_multi*>(this), &kApi, &error);
    if (state_ == nullptr) {
      throw Napi::Error::New(env, std::string("ScriptedCore: attach failed: ") +
                                      strerror(error < 0 ? -error : ENOMEM));
    }
    table_ = ref->table;
    loop_ = Napi::Persistent(loop);  // the External must outlive the attachment
    info.This().As<Napi::Object>().TypeTag(&kCoreTag);
    Live().insert(this);
  }

  ~ScriptedCore() override {
    // Only if a test forgot to detach: the attachment must not outlive its core.
    if (state_ != nullptr) table_->detach(state_);
    Live().erase(this);
  }

 private:
  static std::unordered_set<ScriptedCore*>& Live() {
    static std::unordered_set<ScriptedCore*> live;
    return live;
  }

  void Record(Kind kind, int32_t a, int32_t b, int32_t c, int32_t d, int32_t origin) {
    records_.insert(records_.end(), {kind, a, b, c, d, origin});
  }

  void CheckAttached(Napi::Env env, const char* where) const {
    if (state_ == nullptr) {
      throw Napi::Error::New(env, std::string(where) + ": the ScriptedCore is detached");
    }
  }

  // The table calls, counted so that an action from inside one is seen (and refused).
  int CallSocket(int32_t fd, int32_t what, int32_t flags, int32_t origin) {
    ++depth_;
    int rc = table_->socket(state_, fd, what, static_cast<unsigned>(flags));
    --depth_;
    Record(kSocket, fd, what, flags, rc, origin);
    return rc;
  }

  int CallTimer(int32_t ms, int32_t origin) {
    ++depth_;
    int rc = table_->timer(state_, ms);
    --depth_;
    Record(kTimer, ms, 0, 0, rc, origin);
    return rc;
  }

  void CallClosed(int32_t fd, int32_t origin) {
    ++depth_;
    table_->closed(state_, fd);
    --depth_;
    Record(kClosed, fd, 0, 0, 0, origin);
  }

  static int ApiAction(multisock_multi* multi, curl_socket_t fd, int bits) {
    auto* self = reinterpret_cast<ScriptedCore*>(multi);
    if (Live().count(self) == 0) return kBadHandle;  // not a core at all, or freed
    const int32_t flags =
        (self->depth_ > 0 ? kInsideTableCall : 0) | (self->state_ == nullptr ? kAfterDetach : 0);
    self->Record(kAction, fd, bits, flags, 0, 0);
    if (self->state_ == nullptr) return kBadHandle;
    if (self->depth_ > 0) return kRecursive;
    // What libcurl would do now: the reaction scripted for this fd, inside the action.
    for (size_t i = 0; i < self->reactions_.size(); i++) {
      if (self->reactions_[i].first != fd) continue;
      std::vector<Step> steps = std::move(self->reactions_[i].second);
      self->reactions_.erase(self->reactions_.begin() + static_cast<std::ptrdiff_t>(i));
      // Each step runs as a table call (an action from inside it is refused, as libcurl's
      // socket_action is on the stack then).
      for (const Step& step : steps) {
        if (self->state_ == nullptr) break;
        if (step.kind == kSocket) self->CallSocket(step.a, step.b, step.c, kFromReaction);
        if (step.kind == kTimer) self->CallTimer(step.a, kFromReaction);
        if (step.kind == kClosed) self->CallClosed(step.a, kFromReaction);
      }
      break;
    }
    return kOk;
  }

  static void ApiFlush(multisock_multi* multi) {
    auto* self = reinterpret_cast<ScriptedCore*>(multi);
    if (Live().count(self) == 0) return;
    const int32_t flags =
        (self->depth_ > 0 ? kInsideTableCall : 0) | (self->state_ == nullptr ? kAfterDetach : 0);
    self->Record(kFlush, 0, 0, flags, 0, 0);
  }

  // socket(fd, what, flags): the table's socket function; returns what it returned.
  Napi::Value Socket(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckReceiver(info);
    CheckAttached(env, "socket");
    const int32_t fd = ToInt(info[0], 0, INT32_MAX, "socket: fd");
    const int32_t what = ToInt(info[1], CURL_POLL_NONE, CURL_POLL_REMOVE, "socket: what");
    const int32_t flags =
        info[2].IsUndefined()
            ? 0
            : ToInt(info[2], 0, MULTISOCK_SOCKET_FRESH | MULTISOCK_SOCKET_TRACKED, "socket: flags");
    return Napi::Number::New(env, CallSocket(fd, what, flags, kFromScript));
  }

  // timer(ms): the table's timer function (-1 disarms); returns what it returned.
  Napi::Value Timer(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckReceiver(info);
    CheckAttached(env, "timer");
    const int32_t ms = ToInt(info[0], -1, INT32_MAX, "timer: ms");
    return Napi::Number::New(env, CallTimer(ms, kFromScript));
  }

  // closed(fd): libcurl is about to close a TRACKED socket.
  Napi::Value Closed(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckReceiver(info);
    CheckAttached(env, "closed");
    CallClosed(ToInt(info[0], 0, INT32_MAX, "closed: fd"), kFromScript);
    return env.Undefined();
  }

  // stats(): { registrations, timerArmed }, or null when the table has no stats function.
  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckReceiver(info);
    CheckAttached(env, "stats");
    if (table_->stats == nullptr) return env.Null();
    multisock_loop_stats stats{-1, -1};
    table_->stats(state_, &stats);
    Napi::Object out = Napi::Object::New(env);
    out.Set("registrations", stats.registrations);
    out.Set("timerArmed", stats.timer_armed != 0);
    return out;
  }

  Napi::Value LastError(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckReceiver(info);
    CheckAttached(env, "lastError");
    const char* error = table_->last_error != nullptr ? table_->last_error(state_) : nullptr;
    return error == nullptr ? env.Null() : Napi::String::New(env, error);
  }

  // react(fd, steps): the next action for fd (SOCKET_TIMEOUT: -1) runs `steps` inside it, as
  // libcurl calls the socket and timer functions from inside socket_action. Each step is
  // ['socket', fd, what, flags?], ['timer', ms] or ['closed', fd].
  Napi::Value React(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckReceiver(info);
    CheckAttached(env, "react");
    const int32_t on = ToInt(info[0], -1, INT32_MAX, "react: fd");
    if (!info[1].IsArray()) throw Napi::TypeError::New(env, "react: steps must be an array");
    Napi::Array array = info[1].As<Napi::Array>();
    std::vector<Step> steps;
    for (uint32_t i = 0; i < array.Length(); i++) {
      Napi::Value item = array.Get(i);
      if (!item.IsArray() || item.As<Napi::Array>().Length() == 0) {
        throw Napi::TypeError::New(env, "react: each step must be a non-empty array");
      }
      Napi::Array step = item.As<Napi::Array>();
      Napi::Value op = step.Get(0u);
      const std::string name = op.IsString() ? op.As<Napi::String>().Utf8Value() : "";
      if (name == "socket") {
        Napi::Value flags = step.Get(3u);
        steps.push_back({kSocket, ToInt(step.Get(1u), 0, INT32_MAX, "react: socket fd"),
                         ToInt(step.Get(2u), CURL_POLL_NONE, CURL_POLL_REMOVE, "react: what"),
                         flags.IsUndefined() ? 0 : ToInt(flags, 0, 3, "react: socket flags")});
      } else if (name == "timer") {
        steps.push_back({kTimer, ToInt(step.Get(1u), -1, INT32_MAX, "react: timer ms")});
      } else if (name == "closed") {
        steps.push_back({kClosed, ToInt(step.Get(1u), 0, INT32_MAX, "react: closed fd")});
      } else {
        throw Napi::TypeError::New(env,
                                   "react: a step is ['socket', ...], ['timer', ms] or "
                                   "['closed', fd]");
      }
    }
    reactions_.emplace_back(on, std::move(steps));
    return env.Undefined();
  }

  // take(): every record since the last call, 6 int32 each: [kind, a, b, c, d, origin].
  Napi::Value Take(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckReceiver(info);
    Napi::Int32Array out = Napi::Int32Array::New(env, records_.size());
    std::copy(records_.begin(), records_.end(), out.Data());
    records_.clear();
    return out;
  }

  // detach(): the table's detach. Idempotent; an action or flush during or after it is recorded
  // with kAfterDetach.
  Napi::Value Detach(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckReceiver(info);
    if (state_ == nullptr) return env.Undefined();
    void* state = state_;
    state_ = nullptr;
    reactions_.clear();
    table_->detach(state);
    Record(kDetach, 0, 0, 0, 0, kFromScript);
    return env.Undefined();
  }

  Napi::Value GetName(const Napi::CallbackInfo& info) {
    CheckReceiver(info);
    return Napi::String::New(info.Env(),
                             table_ != nullptr && table_->name != nullptr ? table_->name : "");
  }

  Napi::Value GetDetached(const Napi::CallbackInfo& info) {
    CheckReceiver(info);
    return Napi::Boolean::New(info.Env(), state_ == nullptr);
  }

  const multisock_loop* table_ = nullptr;
  void* state_ = nullptr;
  Napi::Reference<Napi::Value> loop_;
  int depth_ = 0;
  std::vector<int32_t> records_;
  std::vector<std::pair<int32_t, std::vector<Step>>> reactions_;
};

void InitScriptedCore(Napi::Env env, Napi::Object exports) {
  exports.Set("ScriptedCore", ScriptedCore::Init(env));
}

}  // namespace testkit
