// multisock/uv_handles.h: how multisock's native code opens uv handles on Node's own loop.
//
// Every addon that touches Node's loop (this package's Poll and Timer, and the native loop
// adapters, which compile this header in) keeps its handles in one `Handles` per Node
// environment. Two facts of Node and libuv shape it:
// - uv_close is asynchronous: a handle's memory may only be freed in its close callback, which
//   can run after the object that owned the handle is gone. A `Box` is that memory.
// - Node aborts a worker whose loop still holds handles when it exits, so while any handle is
//   open an async cleanup hook is registered; at environment teardown it tells each owner to let
//   go, closes every handle and completes once the last close callback has run.
//
// Plain Node-API and libuv only (no node-addon-api), header-only: each addon gets its own copy.
#pragma once

#include <node_api.h>
#include <uv.h>

#include <cstdlib>
#include <unordered_set>

namespace multisock {
namespace uv {

// What owns a Box's handle; told to let go at environment teardown, when no callback may reach
// it any more.
class Owner {
 public:
  virtual void Detach() = 0;

 protected:
  ~Owner() = default;
};

class Handles;

// The memory of one uv handle (plus, for a timer, the uv_idle_t that fires its 0 ms timeouts:
// see ArmTimer). It lives from a successful uv_*_init until its close callback.
struct Box {
  Box() : handle{}, idle{} {}
  union {
    uv_handle_t handle;
    uv_poll_t poll;
    uv_timer_t timer;
    uv_check_t check;
  };
  uv_idle_t idle;          // initialised only when has_idle
  bool has_idle = false;   // closed along with `handle`
  int open_handles = 0;    // initialised handles not yet through their close callback
  Owner* owner = nullptr;  // null once closing: no callback may reach it
  void* data = nullptr;    // the owner's own use
  Handles* handles = nullptr;

  bool IsActive() const {
    return uv_is_active(&handle) ||
           (has_idle && uv_is_active(reinterpret_cast<const uv_handle_t*>(&idle)));
  }
};

// The open handles of one addon in one Node environment.
class Handles {
 public:
  explicit Handles(napi_env env) : env_(env) {
    if (napi_get_uv_event_loop(env, &loop_) != napi_ok) loop_ = nullptr;
  }
  Handles(const Handles&) = delete;
  Handles& operator=(const Handles&) = delete;

  // Node's loop for this environment (null only if Node-API refused it).
  uv_loop_t* loop() const { return loop_; }

  // Tracks a Box whose handle (and idle, when has_idle) uv_*_init just initialised.
  void Track(Box* box, Owner* owner) {
    box->handles = this;
    box->owner = owner;
    box->handle.data = box;
    box->idle.data = box;
    box->open_handles = box->has_idle ? 2 : 1;
    if (open_.empty()) {
      if (napi_add_async_cleanup_hook(env_, OnTeardown, this, &hook_) != napi_ok) {
        napi_fatal_error("multisock", NAPI_AUTO_LENGTH, "napi_add_async_cleanup_hook failed",
                         NAPI_AUTO_LENGTH);
      }
    }
    open_.insert(box);
  }

  // Stops and closes the Box's handles, once; its memory is freed in the close callback.
  static void Close(Box* box) {
    box->owner = nullptr;
    if (uv_is_closing(&box->handle)) return;
    uv_close(&box->handle, OnClosed);
    if (box->has_idle) uv_close(reinterpret_cast<uv_handle_t*>(&box->idle), OnClosed);
  }

  // Tells every owner to let go and closes every handle: environment teardown, or JS that can
  // no longer run.
  void CloseAll() {
    // Close callbacks run on a later loop turn, so open_ does not change while walking it.
    for (Box* box : open_) {
      if (box->owner != nullptr) box->owner->Detach();
      Close(box);
    }
  }

  size_t open() const { return open_.size(); }

 private:
  static void OnClosed(uv_handle_t* handle) {
    Box* box = static_cast<Box*>(handle->data);
    if (--box->open_handles > 0) return;
    Handles* self = box->handles;
    self->open_.erase(box);
    delete box;
    if (self->open_.empty() && self->hook_ != nullptr) {
      napi_async_cleanup_hook_handle hook = self->hook_;
      self->hook_ = nullptr;
      // Last statement: during teardown this completes the hook, and may free the environment
      // and whatever holds this object.
      napi_remove_async_cleanup_hook(hook);
    }
  }

  static void OnTeardown(napi_async_cleanup_hook_handle, void* arg) {
    static_cast<Handles*>(arg)->CloseAll();
  }

  napi_env env_;
  uv_loop_t* loop_ = nullptr;
  std::unordered_set<Box*> open_;
  napi_async_cleanup_hook_handle hook_ = nullptr;
};

// A one-shot timer: a Box with a uv_timer_t and a uv_idle_t. A timeout of 0 runs from the idle
// handle, once, on the next loop turn: libuv 1.46 (Node 20) runs a uv_timer_t restarted with 0
// from inside a timer callback again in the same timer phase, over and over, without polling
// for I/O, where libcurl's "0: as soon as possible" means after the I/O of this turn.
inline Box* NewTimer(Handles& handles, Owner* owner) {
  Box* box = new Box();
  // Neither init can fail on a live loop (they only fill in the struct).
  uv_timer_init(handles.loop(), &box->timer);
  uv_idle_init(handles.loop(), &box->idle);
  box->has_idle = true;
  handles.Track(box, owner);
  return box;
}

// Arms the timer `ms` from now, replacing an armed timeout. `fired` is called with the Box.
inline void ArmTimer(Box* box, uint64_t ms, void (*fired)(Box* box)) {
  uv_timer_stop(&box->timer);
  uv_idle_stop(&box->idle);
  box->data = reinterpret_cast<void*>(fired);
  if (ms == 0) {
    uv_idle_start(&box->idle, [](uv_idle_t* idle) {
      uv_idle_stop(idle);
      Box* b = static_cast<Box*>(idle->data);
      reinterpret_cast<void (*)(Box*)>(b->data)(b);
    });
  } else {
    uv_timer_start(
        &box->timer,
        [](uv_timer_t* timer) {
          Box* b = static_cast<Box*>(timer->data);
          reinterpret_cast<void (*)(Box*)>(b->data)(b);
        },
        ms, 0);
  }
}

inline void DisarmTimer(Box* box) {
  uv_timer_stop(&box->timer);
  uv_idle_stop(&box->idle);
}

inline bool TimerArmed(const Box* box) {
  return box->IsActive();
}

// A callback at the end of every loop turn (a uv_check_t, after the poll phase), unreferenced:
// it never keeps the loop alive by itself.
inline Box* NewTurnHook(Handles& handles, Owner* owner, void (*each_turn)(Box* box)) {
  Box* box = new Box();
  uv_check_init(handles.loop(), &box->check);
  handles.Track(box, owner);
  box->data = reinterpret_cast<void*>(each_turn);
  uv_check_start(&box->check, [](uv_check_t* check) {
    Box* b = static_cast<Box*>(check->data);
    reinterpret_cast<void (*)(Box*)>(b->data)(b);
  });
  uv_unref(&box->handle);
  return box;
}

}  // namespace uv
}  // namespace multisock
