// The scripted fake core that drives a native loop table directly (scripted-core.cc).
#pragma once

#include <multisock/loop.h>
#include <napi.h>

namespace testkit {

// exports.ScriptedCore.
void InitScriptedCore(Napi::Env env, Napi::Object exports);

}  // namespace testkit
