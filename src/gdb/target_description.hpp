// The target description gdb reads with qXfer:features:read:target.xml, built from the
// register table so the numbering in it and in g/p replies cannot drift apart.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace kxen::gdb {

const std::string& target_xml();
// A qXfer read of `annex` at [offset, offset+length): "m..." (more), "l..." (last), or "E00"
// for an unknown annex.
std::string xfer_features(std::string_view annex, std::uint64_t offset, std::uint64_t length);

}  // namespace kxen::gdb
