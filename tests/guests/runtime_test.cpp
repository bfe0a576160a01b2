// Host-side tests of the guest runtime's pure parts: printf-lite checked against the C
// library's snprintf, and command-line word matching.
#include <catch2/catch.hpp>

#include <climits>
#include <cstdint>
#include <cstdio>
#include <string>

#include "runtime/kxen_rt.h"

namespace {

template <class... Args>
std::string rt_format(const char* fmt, Args... args) {
  char buf[128];
  const int n = rt_snprintf(buf, sizeof(buf), fmt, args...);
  REQUIRE(n >= 0);
  REQUIRE(static_cast<std::size_t>(n) < sizeof(buf));
  return std::string(buf, static_cast<std::size_t>(n));
}

template <class... Args>
std::string libc_format(const char* fmt, Args... args) {
  char buf[128];
  const int n = std::snprintf(buf, sizeof(buf), fmt, args...);
  return std::string(buf, static_cast<std::size_t>(n));
}

#define SAME_AS_LIBC(...) CHECK(rt_format(__VA_ARGS__) == libc_format(__VA_ARGS__))

}  // namespace

TEST_CASE("printf-lite formats integers like the C library", "[guest-rt]") {
  SAME_AS_LIBC("%d %d %d", 0, -1, 42);
  SAME_AS_LIBC("%d %i", INT_MIN, INT_MAX);
  SAME_AS_LIBC("%u %x %#x", UINT_MAX, 0xdeadbeefu, 0x1fu);
  SAME_AS_LIBC("%ld %lu %lx", LONG_MIN, ULONG_MAX, 0x123456789abcdefUL);
  SAME_AS_LIBC("%lld %llu", LLONG_MIN, ULLONG_MAX);
  SAME_AS_LIBC("%llu", 10000000000000000000ULL);
  SAME_AS_LIBC("%zu %zx", static_cast<std::size_t>(4096), static_cast<std::size_t>(4096));
}

TEST_CASE("printf-lite honours width, zero padding and the # flag", "[guest-rt]") {
  SAME_AS_LIBC("[%5d] [%05d] [%3d]", 42, -42, 12345);
  SAME_AS_LIBC("[%08x] [%#010x] [%#018llx]", 0xabcu, 0xabcu, 0x9fffffULL);
  SAME_AS_LIBC("[%8s] [%s] [%c%c]", "ab", "", 'x', 'y');
  SAME_AS_LIBC("100%% [%#x]", 0u);
  SAME_AS_LIBC("%p", reinterpret_cast<void*>(0x109000));
}

TEST_CASE("printf-lite truncates but reports the full length", "[guest-rt]") {
  char buf[8];
  const int n = rt_snprintf(buf, sizeof(buf), "hello %s", "world");
  CHECK(n == 11);
  CHECK(std::string(buf) == "hello w");
  CHECK(rt_snprintf(nullptr, 0, "%d", 12345) == 5);
}

TEST_CASE("printf-lite survives unknown and dangling conversions", "[guest-rt]") {
  CHECK(rt_format("%q|%") == "%q|");
  CHECK(rt_format("%s", static_cast<const char*>(nullptr)) == "(null)");
}

TEST_CASE("command-line words match whole tokens only", "[guest-rt]") {
  CHECK(rt_cmdline_word("hcall=direct", "hcall=direct") == 1);
  CHECK(rt_cmdline_word("console=hvc0  hcall=direct\tquiet", "hcall=direct") == 1);
  CHECK(rt_cmdline_word("console=hvc0\thcall=direct", "hcall=direct") == 1);
  CHECK(rt_cmdline_word("hcall=directly", "hcall=direct") == 0);
  CHECK(rt_cmdline_word("xhcall=direct", "hcall=direct") == 0);
  CHECK(rt_cmdline_word("hcall=dir", "hcall=direct") == 0);
  CHECK(rt_cmdline_word("", "hcall=direct") == 0);
  CHECK(rt_cmdline_word("a b", "") == 0);
  CHECK(rt_strlen("four") == 4);
}
