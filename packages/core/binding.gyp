{
  "targets": [
    {
      "target_name": "multisock_core",
      "sources": [
        "native/addon.cc",
        "native/body.cc",
        "native/common.cc",
        "native/easy.cc",
        "native/multi.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!(node scripts/curl-config.mjs --include-dir)",
        "native/generated",
        "native/include"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-O2", "-Wno-deprecated-declarations", "<!@(node scripts/curl-config.mjs --cflags)"],
      "libraries": ["<!@(node scripts/curl-config.mjs --libs)"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "OTHER_CFLAGS": ["<!@(node scripts/curl-config.mjs --cflags)"]
      }
    }
  ]
}
