# TEST ONLY: the adapter's native/kqueue.cc as the tests' addon, built by the test setup (build.ts,
# run by vitest before the tests): on Linux against the kqueue(2) emulation over epoll, on macOS
# and the BSDs against the real kqueue. The package's own binding.gyp never sees this directory.
{
  "targets": [
    {
      "target_name": "kqueue_emulated",
      "conditions": [
        [
          "OS == 'linux'",
          {
            "sources": ["addon.cc", "emulation.cc"],
            "include_dirs": [
              "include",
              "<!(node -p \"require('node-addon-api').include_dir\")",
              "<!(node -p \"require('path').join(require('path').dirname(require.resolve('@multisock/core/package.json')), 'native', 'include')\")",
              "<!(node -p \"require('path').join(require('path').dirname(require.resolve('@multisock/libuv-bindings/package.json')), 'native', 'include')\")",
              "<!(node -p \"require('path').join(require('path').dirname(require.resolve('@multisock/adapter-core/package.json')), 'native', 'include')\")"
            ],
            "defines": ["MULTISOCK_KQUEUE_EMULATION", "NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
            "cflags!": ["-fno-exceptions"],
            "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
            "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-O2"]
          }
        ],
        [
          "OS in 'mac freebsd openbsd netbsd'.split()",
          {
            "sources": ["addon.cc"],
            "include_dirs": [
              "<!(node -p \"require('node-addon-api').include_dir\")",
              "<!(node -p \"require('path').join(require('path').dirname(require.resolve('@multisock/core/package.json')), 'native', 'include')\")",
              "<!(node -p \"require('path').join(require('path').dirname(require.resolve('@multisock/libuv-bindings/package.json')), 'native', 'include')\")",
              "<!(node -p \"require('path').join(require('path').dirname(require.resolve('@multisock/adapter-core/package.json')), 'native', 'include')\")"
            ],
            "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
            "xcode_settings": {
              "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
              "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
              "OTHER_CPLUSPLUSFLAGS": ["-Wall", "-Wextra", "-O2"]
            },
            "cflags!": ["-fno-exceptions"],
            "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
            "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-O2"]
          }
        ]
      ]
    }
  ]
}
