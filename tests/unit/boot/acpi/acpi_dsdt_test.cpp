// ACPI: the DSDT's _S5 package decoded from AML, checksums, size limits and config errors [acpi].
#include <catch2/catch.hpp>

#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "boot/acpi/acpi_structs.hpp"
#include "boot/acpi/acpi_tables.hpp"

using namespace kxen;
using namespace kxen::boot::acpi;

namespace {

// Minimal AML reader for the subset a Name(_S5_, Package(){...}) of integers uses.
struct AmlReader {
  std::span<const std::byte> aml;
  std::size_t pos = 0;
  std::uint8_t byte() {
    REQUIRE(pos < aml.size());
    return std::to_integer<std::uint8_t>(aml[pos++]);
  }
  // PkgLength (ACPI §20.2.4): lead byte bits 6-7 count the extra bytes.
  std::size_t pkg_length() {
    const auto lead = byte();
    const unsigned extra = lead >> 6;
    if (extra == 0) return lead & 0x3F;
    std::size_t len = lead & 0x0F;
    for (unsigned i = 0; i < extra; ++i) len |= std::size_t{byte()} << (4 + 8 * i);
    return len;
  }
  std::uint64_t integer() {
    switch (byte()) {
      case 0x00: return 0;              // ZeroOp
      case 0x01: return 1;              // OneOp
      case 0xFF: return ~0ull;          // OnesOp
      case 0x0A: return byte();         // BytePrefix
      case 0x0B: return fixed(2);       // WordPrefix
      case 0x0C: return fixed(4);       // DWordPrefix
      case 0x0E: return fixed(8);       // QWordPrefix
      default: FAIL("not an AML integer at " << pos - 1); return 0;
    }
  }
  std::uint64_t fixed(unsigned n) {
    std::uint64_t v = 0;
    for (unsigned i = 0; i < n; ++i) v |= std::uint64_t{byte()} << (8 * i);
    return v;
  }
};

// Finds Name(_S5_, Package) in the DSDT body and returns its integer elements.
std::optional<std::vector<std::uint64_t>> find_s5(std::span<const std::byte> body) {
  static constexpr std::uint8_t kName[] = {0x08, '_', 'S', '5', '_', 0x12};
  for (std::size_t i = 0; i + sizeof(kName) <= body.size(); ++i) {
    if (std::memcmp(body.data() + i, kName, sizeof(kName)) != 0) continue;
    AmlReader r{body, i + sizeof(kName)};
    const auto start = r.pos;
    const auto len = r.pkg_length();
    const auto count = r.byte();
    std::vector<std::uint64_t> values;
    for (unsigned e = 0; e < count; ++e) values.push_back(r.integer());
    REQUIRE(r.pos - start == len);  // PkgLength covers itself and the elements exactly
    return values;
  }
  return std::nullopt;
}

std::span<const std::byte> table_at(const AcpiTables& t, Gpa gpa) {
  const auto off = gpa - t.base;
  REQUIRE(off + sizeof(SdtHeader) <= t.bytes.size());
  SdtHeader h;
  std::memcpy(&h, t.bytes.data() + off, sizeof(h));
  REQUIRE(off + h.length <= t.bytes.size());
  return std::span<const std::byte>(t.bytes).subspan(off, h.length);
}

}  // namespace

TEST_CASE("acpi: DSDT holds Name(_S5_, Package(){5, 5, 0, 0})", "[acpi]") {
  auto t = build_acpi_tables(AcpiConfig{});
  REQUIRE(t.has_value());
  const auto dsdt = table_at(*t, t->dsdt);
  CHECK(std::string(reinterpret_cast<const char*>(dsdt.data()), 4) == "DSDT");
  CHECK(acpi_byte_sum(dsdt) == 0);
  const auto s5 = find_s5(dsdt.subspan(sizeof(SdtHeader)));
  REQUIRE(s5.has_value());
  REQUIRE(s5->size() == 4);
  CHECK((*s5)[0] == kSleepTypeS5);
  CHECK((*s5)[1] == kSleepTypeS5);
}

TEST_CASE("acpi: every table and the RSDP checksum to zero", "[acpi]") {
  for (std::uint32_t vcpus : {1u, 2u, 4u, 64u, 255u}) {
    INFO("vcpus " << vcpus);
    auto t = build_acpi_tables(AcpiConfig{.vcpus = vcpus});
    REQUIRE(t.has_value());
    CHECK(t->rsdp == t->base);
    CHECK(acpi_byte_sum(std::span<const std::byte>(t->bytes).first(kRsdpV1Length)) == 0);
    CHECK(acpi_byte_sum(std::span<const std::byte>(t->bytes).first(sizeof(Rsdp))) == 0);
    for (Gpa table : {t->xsdt, t->fadt, t->madt, t->dsdt}) CHECK(acpi_byte_sum(table_at(*t, table)) == 0);
    CHECK(table_at(*t, t->madt).size() == sizeof(MadtHeader) + vcpus * sizeof(MadtLocalApic) + sizeof(MadtIoApic));
    CHECK(t->bytes.size() <= boot::kAcpiSize);
  }
}

TEST_CASE("acpi: tables follow the configured base", "[acpi]") {
  auto t = build_acpi_tables(AcpiConfig{.vcpus = 2, .base = 0x10000});
  REQUIRE(t.has_value());
  CHECK(t->base == 0x10000);
  Rsdp r;
  std::memcpy(&r, t->bytes.data(), sizeof(r));
  CHECK(r.xsdt_address == t->xsdt);
  CHECK(t->xsdt > 0x10000);
  Fadt f;
  std::memcpy(&f, table_at(*t, t->fadt).data(), sizeof(f));
  CHECK((f.x_dsdt == t->dsdt));  // a packed member: no reference may bind to it
}

TEST_CASE("acpi: too small an area is an error", "[acpi]") {
  auto fits = build_acpi_tables(AcpiConfig{.vcpus = 64});
  REQUIRE(fits.has_value());
  const auto need = fits->bytes.size();
  CHECK(build_acpi_tables(AcpiConfig{.vcpus = 64, .size_limit = need}).has_value());
  auto err = build_acpi_tables(AcpiConfig{.vcpus = 64, .size_limit = need - 1});
  REQUIRE_FALSE(err.has_value());
  CHECK(err.error().find("64 vCPUs") != std::string::npos);
  CHECK_FALSE(build_acpi_tables(AcpiConfig{.vcpus = 255, .size_limit = 1024}).has_value());
}

TEST_CASE("acpi: invalid configs are errors", "[acpi]") {
  CHECK_FALSE(build_acpi_tables(AcpiConfig{.vcpus = 0}).has_value());
  CHECK_FALSE(build_acpi_tables(AcpiConfig{.vcpus = 256}).has_value());
  CHECK_FALSE(build_acpi_tables(AcpiConfig{.base = 0xE0008}).has_value());
  CHECK_FALSE(build_acpi_tables(AcpiConfig{.base = 0xFFFFF000, .size_limit = 0x2000}).has_value());
  CHECK_FALSE(build_acpi_tables(AcpiConfig{.sleep_control_port = 0x404, .sleep_status_port = 0x404}).has_value());
}

TEST_CASE("acpi: writing to unbacked guest memory is an error", "[acpi]") {
  GuestMemory mem;
  REQUIRE_FALSE(mem.add_ram(boot::kAcpiBase, kPageSize).has_value());
  auto unbacked = write_acpi_tables(mem, AcpiConfig{.base = boot::kAcpiBase - kPageSize});
  REQUIRE_FALSE(unbacked.has_value());
  CHECK(unbacked.error().find("not backed") != std::string::npos);
  // Straddles the end of the backed page.
  auto straddle = write_acpi_tables(mem, AcpiConfig{.vcpus = 255, .base = boot::kAcpiBase + kPageSize - 1024});
  REQUIRE_FALSE(straddle.has_value());
  auto fits = write_acpi_tables(mem, AcpiConfig{.vcpus = 255});
  REQUIRE(fits.has_value());
  CHECK(*fits == boot::kAcpiBase);
}
