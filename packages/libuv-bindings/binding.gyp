{
  "targets": [
    {
      "target_name": "libuv_bindings",
      # gyp strips a leading "lib" from a module's name: keep the file libuv_bindings.node
      "product_prefix": "lib",
      "sources": ["native/addon.cc", "native/poll.cc", "native/timer.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native/include"],
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
