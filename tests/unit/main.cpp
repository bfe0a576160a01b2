// Catch2's session runs the tests; every unit test file links into this one binary.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <spdlog/spdlog.h>

int main(int argc, char* argv[]) {
  // kxen's main sets up logging before any thread starts; tests whose threads log first (the
  // [vcpu] cases run alone) need spdlog's registry built on this thread too.
  spdlog::default_logger();
  return Catch::Session().run(argc, argv);
}
