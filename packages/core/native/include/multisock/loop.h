/*
 * multisock/loop.h: the table a native loop adapter implements, and what the core offers it.
 *
 * A loop adapter translates libcurl's socket and timer callbacks into registrations on some
 * event loop, and readiness back into curl_multi_socket_action. A native adapter does that in
 * C or C++, inside libcurl's own callbacks, with no JavaScript per event: the core's addon
 * calls the adapter's functions from its CURLMOPT_SOCKETFUNCTION and CURLMOPT_TIMERFUNCTION,
 * and the adapter calls back through `multisock_core_api` when a socket is ready or its timer
 * fires. Finished transfers reach JavaScript in one call per loop turn (`flush`).
 *
 * The two addons never link against each other. The adapter's addon hands JavaScript a
 * Node-API External wrapping a `multisock_loop_ref`, type-tagged with MULTISOCK_LOOP_TAG; the
 * adapter's TypeScript passes it to the core (Multi's native attach), which checks the tag and
 * the version before using it. The model is c-ares' event backends and hiredis' adapters: one
 * small table per loop.
 *
 * Rules every adapter keeps (the project's docs/contract.md explains each):
 * - `what` is the whole interest set for the fd, not a change; CURL_POLL_REMOVE means "stop
 *   watching", not "closed": the same fd number may be announced again at once.
 * - Level-triggered readiness only: libcurl may leave data in the kernel after one call.
 * - Never call `api->action` from inside `socket`, `timer` or `closed` (the core refuses it
 *   with CURLM_RECURSIVE_API_CALL); a timer of 0 fires on a later turn of the loop.
 * - ev_bitmask is CURL_CSELECT_* bits, never CURL_POLL_* bits (CURL_POLL_REMOVE and
 *   CURL_CSELECT_ERR are both 4). Report an error condition as CURL_CSELECT_ERR together with
 *   the directions being watched: libcurl 7.88.1 fails a transfer on ERR alone without reading
 *   what is still buffered.
 * - After `detach` returns, nothing of that multi stays registered and the adapter never calls
 *   into the core for it again.
 */
#ifndef MULTISOCK_LOOP_H
#define MULTISOCK_LOOP_H

#include <curl/curl.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MULTISOCK_LOOP_VERSION 1

/* The type tag of the External an adapter hands to JavaScript (napi_type_tag). */
#define MULTISOCK_LOOP_TAG_LOWER 0x6d756c7469736f63ULL
#define MULTISOCK_LOOP_TAG_UPPER 0x6b2d6c6f6f700001ULL

/* `flags` of the socket function. */
/* libcurl holds no association for the fd: its first announcement, or the first since a
 * REMOVE. A registration the adapter still lists for this fd belongs to a socket that is gone:
 * register anew. */
#define MULTISOCK_SOCKET_FRESH 1u
/* libcurl opened this socket through the core, and `closed` is called before libcurl closes
 * it: the adapter may keep resources for it after REMOVE (a stopped uv_poll, say) and release
 * them then. Without the flag, release everything at REMOVE. */
#define MULTISOCK_SOCKET_TRACKED 2u

/* One Multi as the core drives it. Opaque to adapters. */
typedef struct multisock_multi multisock_multi;

/* What the core offers an adapter. */
typedef struct multisock_core_api {
  uint32_t version; /* MULTISOCK_LOOP_VERSION */
  /* curl_multi_socket_action(fd, ev_bitmask), fd CURL_SOCKET_TIMEOUT when the timer fired.
   * Finished transfers are collected natively until the next flush. Returns a CURLMcode:
   * CURLM_RECURSIVE_API_CALL (nothing done) when called from inside a table function,
   * CURLM_BAD_HANDLE once the multi is closed. */
  int (*action)(multisock_multi* multi, curl_socket_t fd, int ev_bitmask);
  /* Hands every finished transfer collected since the last flush to JavaScript in one call
   * (nothing at all when there is none), and lets what JS callbacks queued meanwhile (promise
   * reactions, process.nextTick) run. Call it after the actions of a loop turn, before the loop
   * can block or exit again: once per turn after its socket events, and after the action of a
   * timer that fires before the loop polls. Never from inside a table function. The JS it runs
   * may detach this multi (calling `detach`, which frees the state) or close it: touch nothing of
   * the state after flush returns. */
  void (*flush)(multisock_multi* multi);
} multisock_core_api;

/* What the adapter knows of its own state, for introspection and the conformance trace. */
typedef struct multisock_loop_stats {
  int32_t registrations; /* sockets of this multi registered with the loop right now */
  int32_t timer_armed;   /* 1 while the multi's timer is armed */
} multisock_loop_stats;

/* What a loop adapter implements. Every function runs on the loop's thread. */
typedef struct multisock_loop {
  uint32_t version; /* MULTISOCK_LOOP_VERSION */
  const char* name; /* "libuv", "epoll", ... */
  /* Makes the state for one multi. `loop` is the pointer the adapter's External carries.
   * `multi` and `api` stay valid until `detach` returns. On failure returns NULL and sets
   * *error to a negative errno. */
  void* (*attach)(void* loop, multisock_multi* multi, const multisock_core_api* api, int* error);
  /* libcurl's socket callback: `what` is CURL_POLL_IN, _OUT, _INOUT, _REMOVE (or _NONE,
   * never sent in practice: keep the registration, watch nothing). Returns 0, or a negative
   * errno: the core then fails every transfer of the multi (libcurl is told 0 regardless). */
  int (*socket)(void* state, curl_socket_t fd, int what, unsigned flags);
  /* libcurl's timer callback: -1 disarms, 0 or more arms one non-repeating timer that
   * replaces any armed one (0: on a later turn of the loop). Returns 0 or a negative errno. */
  int (*timer)(void* state, long timeout_ms);
  /* libcurl is about to close fd, a socket announced with MULTISOCK_SOCKET_TRACKED (after its
   * REMOVE, if it was watched). Release what was kept for it. */
  void (*closed)(void* state, curl_socket_t fd);
  /* Fills `out`. */
  void (*stats)(void* state, multisock_loop_stats* out);
  /* What the last failed socket or timer call tried ("epoll_ctl(ADD) on fd 12"), or NULL. */
  const char* (*last_error)(void* state);
  /* Drops every registration and the timer, and frees the state. */
  void (*detach)(void* state);
} multisock_loop;

/* What the External an adapter hands to JavaScript points at. It must outlive every multi
 * attached through it (the core holds a reference to the External while attached). */
typedef struct multisock_loop_ref {
  const multisock_loop* table;
  void* loop;
} multisock_loop_ref;

#ifdef __cplusplus
}
#endif

#endif /* MULTISOCK_LOOP_H */
