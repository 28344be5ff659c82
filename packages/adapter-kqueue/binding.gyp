# The kqueue backend exists only where the OS has kqueue. Elsewhere (Linux) the target is of type
# "none": configure and build succeed and produce no .node, and the adapter says so when used.
# (The tests compile the same native/kqueue.cc on Linux against test/emulation, never from here.)
{
  "targets": [
    {
      "target_name": "multisock_kqueue",
      "conditions": [
        [
          "OS in 'mac freebsd openbsd netbsd'.split()",
          {
            "sources": ["native/kqueue.cc"],
            "include_dirs": [
              "<!(node -p \"require('node-addon-api').include_dir\")",
              "<!(node -p \"require('path').join(require('path').dirname(require.resolve('@multisock/core/package.json')), 'native', 'include')\")",
              "<!(node -p \"require('path').join(require('path').dirname(require.resolve('@multisock/libuv-bindings/package.json')), 'native', 'include')\")",
              "<!(node -p \"require('path').join(require('path').dirname(require.resolve('@multisock/adapter-core/package.json')), 'native', 'include')\")"
            ],
            "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
            "cflags!": ["-fno-exceptions"],
            "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
            "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-O2"],
            "xcode_settings": {
              "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
              "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
              "OTHER_CPLUSPLUSFLAGS": ["-Wall", "-Wextra", "-O2"]
            }
          },
          { "type": "none" }
        ]
      ]
    }
  ]
}
