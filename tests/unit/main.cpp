// Catch2 provides main(); every unit test file links into this one binary.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
