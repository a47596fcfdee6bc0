{
  "targets": [
    {
      "target_name": "tsvs_afpacket",
      "sources": ["src/afpacket.cc", "src/tap.cc", "src/wakefd.cc", "src/busyread.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [
        ["OS!='linux'", { "type": "none", "sources!": ["src/afpacket.cc", "src/tap.cc", "src/wakefd.cc", "src/busyread.cc"] }]
      ]
    }
  ]
}
