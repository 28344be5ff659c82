#include "body.h"

#include <algorithm>
#include <cstring>

namespace multisock {

namespace {
// Up to this much capacity stays with a handle between transfers, so a pool of handles does not
// hold on to large bodies' memory.
constexpr size_t kKeepCapacity = 256 * 1024;
// The server's word is only trusted this far for a Buffer made before the bytes arrive.
constexpr curl_off_t kMaxReserve = 64 * 1024 * 1024;
}  // namespace

void ClearBytes(std::vector<char>& bytes) {
  if (bytes.capacity() > kKeepCapacity) {
    std::vector<char>().swap(bytes);
  } else {
    bytes.clear();
  }
}

bool BodyBuffer::MoveToJs(napi_env env, size_t capacity) {
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return false;
  void* data = nullptr;
  napi_value buffer;
  napi_ref ref = nullptr;
  bool ok = napi_create_buffer(env, capacity, &data, &buffer) == napi_ok &&
            napi_create_reference(env, buffer, 1, &ref) == napi_ok;
  napi_close_handle_scope(env, scope);
  if (!ok) return false;
  const size_t have = size();
  if (ref_ != nullptr) {
    std::memcpy(data, data_, len_);
    napi_delete_reference(env_, ref_);
  } else {
    std::memcpy(data, small_.data(), small_.size());
    ClearBytes(small_);
  }
  env_ = env;
  ref_ = ref;
  data_ = static_cast<char*>(data);
  cap_ = capacity;
  len_ = have;
  return true;
}

void BodyBuffer::Append(napi_env env, const char* data, size_t n, curl_off_t expected,
                        bool canCallJs) {
  if (ref_ == nullptr && canCallJs) {
    const size_t want = small_.size() + n;
    const size_t announced =
        expected > 0 ? static_cast<size_t>(std::min<curl_off_t>(expected, kMaxReserve)) : 0;
    if (want > kDirectBytes || announced >= kDirectBytes) {
      MoveToJs(env, std::max(announced, small_.empty() ? want : 2 * want));
    }
  }
  if (ref_ != nullptr && !small_.empty()) {
    small_.insert(small_.end(), data, data + n);  // keeps the order behind an earlier overflow
    return;
  }
  if (ref_ != nullptr) {
    // More than announced (a decoded body, a wrong Content-Length): grow, doubling.
    if (len_ + n > cap_ && !(canCallJs && MoveToJs(env, std::max(2 * cap_, len_ + n)))) {
      // No JS now (or no memory for a bigger Buffer): the rest waits in the vector.
      small_.insert(small_.end(), data, data + n);
      return;
    }
    std::memcpy(data_ + len_, data, n);
    len_ += n;
    return;
  }
  if (small_.empty() && expected > 0) {
    small_.reserve(static_cast<size_t>(std::min<curl_off_t>(expected, kMaxReserve)));
  }
  small_.insert(small_.end(), data, data + n);
}

napi_value BodyBuffer::Take(napi_env env) {
  napi_value result = nullptr;
  if (ref_ == nullptr) {
    void* copy = nullptr;
    napi_create_buffer_copy(env, small_.size(), small_.data(), &copy, &result);
    ClearBytes(small_);
    return result;
  }
  napi_value buffer;
  napi_get_reference_value(env, ref_, &buffer);
  result = buffer;
  const size_t tail = small_.size();  // bytes that came while no bigger Buffer could be made
  if (len_ + tail != cap_) {
    if (tail > 0) {
      void* data = nullptr;
      napi_create_buffer(env, len_ + tail, &data, &result);
      std::memcpy(data, data_, len_);
      std::memcpy(static_cast<char*>(data) + len_, small_.data(), tail);
    } else {
      // Shorter than announced: a view of what arrived.
      napi_value subarray, args[2];
      napi_get_named_property(env, buffer, "subarray", &subarray);
      napi_create_uint32(env, 0, &args[0]);
      napi_create_double(env, static_cast<double>(len_), &args[1]);
      napi_call_function(env, buffer, subarray, 2, args, &result);
    }
  } else if (tail > 0) {
    std::memcpy(data_ + len_, small_.data(), tail);  // exactly fills the Buffer
  }
  Clear();
  return result;
}

bool BodyBuffer::TakeInto(char* out, size_t room, size_t* n) {
  if (ref_ != nullptr || small_.size() > room) return false;
  *n = small_.size();
  if (*n > 0) std::memcpy(out, small_.data(), *n);
  ClearBytes(small_);
  return true;
}

void BodyBuffer::Clear() {
  if (ref_ != nullptr) napi_delete_reference(env_, ref_);
  ref_ = nullptr;
  data_ = nullptr;
  cap_ = len_ = 0;
  ClearBytes(small_);
}

}  // namespace multisock
