// kxen's entry point: parse the command line, then run the guest.
#include <variant>

#include "cli/launcher.hpp"
#include "cli/options.hpp"

int main(int argc, char** argv) {
  auto parsed = kxen::parse_command_line(argc, argv);
  if (const int* code = std::get_if<int>(&parsed)) return *code;
  return kxen::run_guest(std::get<kxen::RunOptions>(parsed));
}
