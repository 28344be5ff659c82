// TEST ONLY: <sys/event.h> for the kqueue(2) emulation over epoll (emulation.cc), so the
// adapter's native/kqueue.cc compiles unchanged on Linux. Only the test tree's binding.gyp puts
// this directory on the include path; the package never builds against it. FreeBSD's values.
#pragma once

#include <stdint.h>
#include <time.h>

#include <vector>

struct kevent {
  uintptr_t ident;
  short filter;
  unsigned short flags;
  unsigned int fflags;
  int64_t data;
  void* udata;
};

#define EVFILT_READ (-1)
#define EVFILT_WRITE (-2)

#define EV_ADD 0x0001
#define EV_DELETE 0x0002
#define EV_ONESHOT 0x0010
#define EV_CLEAR 0x0020
#define EV_RECEIPT 0x0040
#define EV_DISPATCH 0x0080
#define EV_SYSFLAGS 0xf000
#define EV_EOF 0x8000
#define EV_ERROR 0x4000

extern "C" {
int kqueue(void);
int kevent(int kq, const struct kevent* changelist, int nchanges, struct kevent* eventlist,
           int nevents, const struct timespec* timeout);
}

namespace kqueue_emulation {

// One kevent() call as the emulation saw it, for the tests: what was submitted and returned.
struct Call {
  int kq;
  int nevents;
  int64_t timeout_ms;  // -1: no limit
  int rc;              // as kevent() returned it, -errno on failure
  std::vector<struct kevent> changes;
  std::vector<struct kevent> events;  // what was written into the event list
};

// Turns recording on or off (off drops the log), and takes what was recorded so far.
void Record(bool on);
std::vector<Call> Take();

}  // namespace kqueue_emulation
