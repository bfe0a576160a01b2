// What the guest's debug output (console_io writes, port 0xE9) may put on the host terminal.
#pragma once

#include <string>
#include <string_view>

namespace kxen {

// Like Xen for a domU: keep printable ASCII, newline and tab; drop escape sequences and the
// rest, so a guest cannot drive the host's terminal.
inline bool console_printable(char c) { return (c >= 0x20 && c < 0x7f) || c == '\n' || c == '\t'; }

// Appends the bytes of `in` that console_printable() keeps to `out`.
inline void append_console_text(std::string& out, std::string_view in) {
  for (const char c : in)
    if (console_printable(c)) out.push_back(c);
}

}  // namespace kxen
