// Helpers for XenStore tests: build raw requests and take replies apart.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "xen/xenstore/protocol.hpp"

namespace kxen::xenstore::test {

using namespace std::string_literals;

struct Reply {
  xsd_sockmsg header{};
  std::string payload;
};

inline Reply decode(std::string_view bytes) {
  Reply r;
  if (bytes.size() < sizeof(r.header)) return r;
  std::memcpy(&r.header, bytes.data(), sizeof(r.header));
  r.payload = std::string(bytes.substr(sizeof(r.header)));
  return r;
}

inline std::string error_payload(std::string_view name) { return std::string(name) + '\0'; }

}  // namespace kxen::xenstore::test
