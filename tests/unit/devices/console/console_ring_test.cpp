// ConsoleRing against a console page in real GuestMemory, with a hostile guest. Tag [console].
#include "console/console_ring.hpp"
#include "fake_console_guest.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <string>
#include <vector>

using kxen::console::ConsoleRing;
using kxen::console::test::FakeConsoleGuest;

namespace {

constexpr std::size_t kOutCons = offsetof(xencons_interface, out_cons);
constexpr std::size_t kOutProd = offsetof(xencons_interface, out_prod);
constexpr std::size_t kInCons = offsetof(xencons_interface, in_cons);
constexpr std::size_t kInProd = offsetof(xencons_interface, in_prod);

ConsoleRing attach(FakeConsoleGuest& guest) {
  auto ring = ConsoleRing::attach(guest.page());
  REQUIRE(ring.has_value());
  return *ring;
}

std::string drain(ConsoleRing& ring, std::size_t chunk = 4096) {
  std::vector<char> buf(chunk);
  auto result = ring.read_output(buf);
  return std::string(buf.data(), result.bytes);
}

}  // namespace

TEST_CASE("console ring: attach rejects short or misaligned pages", "[console]") {
  std::vector<std::byte> small(sizeof(xencons_interface) - 1);
  CHECK_FALSE(ConsoleRing::attach(small).has_value());
  alignas(8) std::array<std::byte, 4096 + 8> big{};
  CHECK_FALSE(ConsoleRing::attach(std::span(big).subspan(1, 4096)).has_value());
  CHECK(ConsoleRing::attach(std::span(big).first(4096)).has_value());
}

TEST_CASE("console ring: guest output is drained and out_cons released", "[console]") {
  FakeConsoleGuest guest;
  auto ring = attach(guest);
  CHECK(drain(ring).empty());
  guest.write_output("hello\r\n");
  std::array<char, 64> buf{};
  auto result = ring.read_output(buf);
  CHECK(std::string(buf.data(), result.bytes) == "hello\r\n");
  CHECK(result.notify);
  CHECK_FALSE(result.corrupt);
  CHECK(guest.index(kOutCons) == 7);
  CHECK_FALSE(ring.read_output(buf).notify);  // nothing new: no spurious notification
}

TEST_CASE("console ring: output wraps around the end of out", "[console]") {
  FakeConsoleGuest guest;
  guest.set_index(kOutCons, 2040);
  guest.set_index(kOutProd, 2040);
  auto ring = attach(guest);
  guest.write_output("0123456789abcdef");  // bytes 2040..2047 then 0..7
  CHECK(drain(ring) == "0123456789abcdef");
  CHECK(guest.index(kOutCons) == 2056);
}

TEST_CASE("console ring: free-running indexes across 2^32", "[console]") {
  FakeConsoleGuest guest;
  guest.set_index(kOutCons, 0xfffffffcu);
  guest.set_index(kOutProd, 0xfffffffcu);
  auto ring = attach(guest);
  guest.write_output("wrap-around");
  CHECK(drain(ring) == "wrap-around");
  CHECK(guest.index(kOutCons) == 0xfffffffcu + 11u);
}

TEST_CASE("console ring: a full out ring is drained in caller-sized pieces", "[console]") {
  FakeConsoleGuest guest;
  auto ring = attach(guest);
  std::string full;
  for (std::size_t i = 0; i < ConsoleRing::kOutSize; ++i) full.push_back(static_cast<char>('a' + i % 26));
  guest.write_output(full);
  std::string got = drain(ring, 1000);
  CHECK(got.size() == 1000);
  CHECK(guest.index(kOutCons) == 1000);
  got += drain(ring);
  CHECK(got == full);
  CHECK(guest.index(kOutCons) == guest.index(kOutProd));
}

TEST_CASE("console ring: corrupt out indexes resync without reading", "[console]") {
  FakeConsoleGuest guest;
  auto ring = attach(guest);
  guest.set_index(kOutCons, 10);
  guest.set_index(kOutProd, 10 + ConsoleRing::kOutSize + 1);  // more pending than the ring holds
  std::array<char, 4096> buf{};
  auto result = ring.read_output(buf);
  CHECK(result.corrupt);
  CHECK(result.bytes == 0);
  CHECK(guest.index(kOutCons) == guest.index(kOutProd));
  guest.set_index(kOutProd, 5);  // prod behind cons: a huge unsigned distance
  CHECK(ring.read_output(buf).corrupt);
  CHECK(guest.index(kOutCons) == 5);
  guest.write_output("ok");  // the ring works again after the resync
  CHECK(drain(ring) == "ok");
}

TEST_CASE("console ring: host input reaches in and in_prod is published", "[console]") {
  FakeConsoleGuest guest;
  auto ring = attach(guest);
  const std::string text = "ls -l\r";
  auto result = ring.write_input(text);
  CHECK(result.bytes == text.size());
  CHECK(result.notify);
  CHECK(guest.index(kInProd) == text.size());
  CHECK(guest.read_input() == text);
  CHECK_FALSE(ring.write_input(std::span<const char>()).notify);
}

TEST_CASE("console ring: input that does not fit is accepted partially and wraps", "[console]") {
  FakeConsoleGuest guest;
  guest.set_index(kInCons, 1000);
  guest.set_index(kInProd, 1000);
  auto ring = attach(guest);
  std::string big;
  for (std::size_t i = 0; i < 1500; ++i) big.push_back(static_cast<char>('A' + i % 26));
  auto first = ring.write_input(big);
  CHECK(first.bytes == ConsoleRing::kInSize);
  CHECK(ring.write_input(big).bytes == 0);  // full until the guest consumes
  CHECK(guest.read_input() == big.substr(0, ConsoleRing::kInSize));
  auto rest = ring.write_input(std::string_view(big).substr(first.bytes));
  CHECK(rest.bytes == big.size() - ConsoleRing::kInSize);
  CHECK(guest.read_input() == big.substr(ConsoleRing::kInSize));
}

TEST_CASE("console ring: corrupt in indexes are resynced to in_cons", "[console]") {
  FakeConsoleGuest guest;
  guest.set_index(kInCons, 50);
  guest.set_index(kInProd, 50 + ConsoleRing::kInSize + 7);
  auto ring = attach(guest);
  auto result = ring.write_input(std::string_view("x"));
  CHECK(result.corrupt);
  CHECK(result.bytes == 1);
  CHECK(guest.index(kInProd) == 51);
  CHECK(guest.read_input() == "x");
}
