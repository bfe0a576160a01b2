// The guest's NICs from `--net` options: host ports opened (taps, bridges, user mode) before KVM
// is touched, so every mistake is one line and nothing is half set up.
#pragma once

#include <expected>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/net_options.hpp"
#include "xenbus/backend.hpp"

namespace kxen::net {

// NIC i gets devid i; NICs without mac= get default_mac(guest_name, i).
std::expected<std::vector<std::shared_ptr<xenbus::BackendFactory>>, std::string> open_nics(
    const std::vector<NetOptions>& nics, std::string_view guest_name);

}  // namespace kxen::net
