// The test-only native loop adapter with a mistake chosen per attach (broken-loop.cc).
#pragma once

#include <multisock/loop.h>
#include <napi.h>

namespace testkit {

// In the order of kBreakageNames (broken-loop.cc).
enum class Breakage {
  kNone,
  kIgnoreRemove,
  kEdgeTriggered,
  kSyncTimerZero,
  kWhatBitsAsEvents,
  kNoneAsInout,
  kReinitOnChange,
  kErrAlone,
  kNoErrorRestart,
  kTimerPerCall,
  kRepeatingTimer,
  kIgnoresTimerDelete,
  kIgnoresClosed,
  kLeaksAtDetach,
};

// exports.brokenLoop(name): the External of the adapter with that breakage. Takes the addon's
// instance data.
void InitBrokenLoop(Napi::Env env, Napi::Object exports);

}  // namespace testkit
