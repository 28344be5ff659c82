# The kqueue backend exists only where the OS has kqueue. Elsewhere (Linux) the target is of type
# "none": configure and build succeed and produce no .node, and the adapter says so when used.
{
  "targets": [
    {
      "target_name": "kqueue",
      "conditions": [
        [
          "OS in 'mac freebsd openbsd netbsd'.split()",
          {
            "sources": ["native/kqueue.cc"],
            "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
            "defines": ["NAPI_CPP_EXCEPTIONS", "NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
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
