# The kqueue emulation over epoll (test only): built on Linux by the test setup
# (test/emulation/build.ts, run by vitest before the tests). Elsewhere the real kqueue is there
# and the target is of type "none".
{
  "targets": [
    {
      "target_name": "kqueue_emulation",
      "conditions": [
        [
          "OS == 'linux'",
          {
            "sources": ["emulation.cc"],
            "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
            "defines": ["NAPI_CPP_EXCEPTIONS", "NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
            "cflags!": ["-fno-exceptions"],
            "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
            "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-O2"]
          },
          { "type": "none" }
        ]
      ]
    }
  ]
}
