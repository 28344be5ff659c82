# epoll exists only on Linux: elsewhere the target is of type "none" and the adapter says so.
{
  "targets": [
    {
      "target_name": "multisock_epoll",
      "conditions": [
        [
          "OS == 'linux'",
          {
            "sources": ["native/epoll.cc"],
            "include_dirs": [
              "<!(node -p \"require('node-addon-api').include_dir\")",
              "<!(node -p \"require('path').join(require('path').dirname(require.resolve('@multisock/core/package.json')), 'native', 'include')\")",
              "<!(node -p \"require('path').join(require('path').dirname(require.resolve('@multisock/libuv-bindings/package.json')), 'native', 'include')\")",
              "<!(node -p \"require('path').join(require('path').dirname(require.resolve('@multisock/adapter-core/package.json')), 'native', 'include')\")"
            ],
            "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
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
