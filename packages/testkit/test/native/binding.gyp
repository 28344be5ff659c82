# The testkit's test addon (TEST ONLY): built by the test setup (test/native/build.ts, run by
# vitest before the tests), never by the package's build.
{
  "targets": [
    {
      "target_name": "testkit_native",
      "sources": ["addon.cc", "broken-loop.cc", "scripted-core.cc", "fds.cc"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!(node -p \"require('path').join(require('path').dirname(require.resolve('@multisock/core/package.json')), 'native', 'include')\")",
        "<!(node -p \"require('path').join(require('path').dirname(require.resolve('@multisock/libuv-bindings/package.json')), 'native', 'include')\")"
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
    }
  ]
}
