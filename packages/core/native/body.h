// A response body collected natively (no WRITEFUNCTION set).
//
// A small body goes to a std::vector and is copied into a Buffer once taken. A body that grows
// past kDirectBytes, or announces a Content-Length at least that large, is written straight into
// a JS Buffer instead: it is copied once, from libcurl's buffer, and it is freed by V8's garbage
// collector like any Buffer. A Buffer over memory of our own (an external buffer) would need its
// finalizer to free it, and Node runs those on a later turn of its event loop: a reactor that
// blocks in its own loop, never returning to Node's, would never free them.
#pragma once

#include <curl/curl.h>
#include <node_api.h>

#include <cstddef>
#include <vector>

namespace multisock {

class BodyBuffer {
 public:
  static constexpr size_t kDirectBytes = 32 * 1024;

  BodyBuffer() = default;
  BodyBuffer(const BodyBuffer&) = delete;
  BodyBuffer& operator=(const BodyBuffer&) = delete;
  ~BodyBuffer() { Clear(); }

  // Appends `n` bytes. `expected` is the Content-Length (-1 when unknown). A JS Buffer is only
  // made when `canCallJs`; otherwise (and if making one fails) the bytes go to the vector.
  // Throws std::bad_alloc.
  void Append(napi_env env, const char* data, size_t n, curl_off_t expected, bool canCallJs);

  // The bytes as a Buffer, and empties this (call from JS, inside a handle scope).
  napi_value Take(napi_env env);

  // Copies the bytes to `out` and empties this, if they are not in a JS Buffer and fit in `room`.
  bool TakeInto(char* out, size_t room, size_t* n);

  // Drops the bytes, keeping a modest vector capacity for the next transfer. Runs no JS.
  void Clear();

  size_t size() const { return ref_ != nullptr ? len_ : small_.size(); }

 private:
  bool MoveToJs(napi_env env, size_t capacity);

  std::vector<char> small_;
  napi_env env_ = nullptr;
  napi_ref ref_ = nullptr;  // the JS Buffer, when the body is in one
  char* data_ = nullptr;
  size_t cap_ = 0;
  size_t len_ = 0;
};

// Empties a collected buffer, keeping a modest capacity for the next transfer.
void ClearBytes(std::vector<char>& bytes);

}  // namespace multisock
