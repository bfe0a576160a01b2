// ACPI tables: build, write to guest memory, parse back [acpi].
#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "boot/acpi/acpi_structs.hpp"
#include "boot/acpi/acpi_tables.hpp"

using namespace kxen;
using namespace kxen::boot::acpi;

namespace {

// Guest memory with the ACPI area backed, the tables written into it.
struct Guest {
  GuestMemory mem;
  Gpa rsdp = 0;
  explicit Guest(const AcpiConfig& cfg) {
    REQUIRE_FALSE(mem.add_ram(boot::kAcpiBase, boot::kAcpiSize).has_value());
    auto written = write_acpi_tables(mem, cfg);
    REQUIRE(written.has_value());
    rsdp = *written;
  }
  std::vector<std::byte> bytes(Gpa gpa, std::uint64_t len) const {
    std::vector<std::byte> out(len);
    REQUIRE(mem.read(gpa, out));
    return out;
  }
  // Reads a table by address, checks its signature, length bound and checksum; returns its bytes.
  std::vector<std::byte> table(Gpa gpa, const char* sig) const {
    auto h = mem.read_obj<SdtHeader>(gpa);
    REQUIRE(h.has_value());
    REQUIRE(std::string(h->signature, 4) == sig);
    REQUIRE(h->length >= sizeof(SdtHeader));
    REQUIRE(h->length <= boot::kAcpiSize);
    auto b = bytes(gpa, h->length);
    CHECK(acpi_byte_sum(b) == 0);
    return b;
  }
};

template <class T>
T at(const std::vector<std::byte>& b, std::size_t off) {
  REQUIRE(off + sizeof(T) <= b.size());
  T v;
  std::memcpy(&v, b.data() + off, sizeof(T));
  return v;
}

Rsdp check_rsdp(const Guest& g) {
  auto raw = g.bytes(g.rsdp, sizeof(Rsdp));
  auto r = at<Rsdp>(raw, 0);
  CHECK(g.rsdp % 16 == 0);
  CHECK(std::string(r.signature, 8) == "RSD PTR ");
  CHECK(r.revision == 2);
  CHECK(r.length == sizeof(Rsdp));
  CHECK(acpi_byte_sum(std::span(raw).first(kRsdpV1Length)) == 0);
  CHECK(acpi_byte_sum(raw) == 0);
  return r;
}

// Table addresses listed in the XSDT.
std::vector<std::uint64_t> xsdt_entries(const Guest& g, Gpa xsdt) {
  auto b = g.table(xsdt, "XSDT");
  REQUIRE((b.size() - sizeof(SdtHeader)) % kXsdtEntrySize == 0);
  std::vector<std::uint64_t> out;
  for (auto off = sizeof(SdtHeader); off < b.size(); off += kXsdtEntrySize)
    out.push_back(at<std::uint64_t>(b, off));
  return out;
}

Gpa find_table(const Guest& g, const char* sig) {
  const auto r = check_rsdp(g);
  for (auto addr : xsdt_entries(g, r.xsdt_address)) {
    auto h = g.mem.read_obj<SdtHeader>(addr);
    REQUIRE(h.has_value());
    if (std::string(h->signature, 4) == sig) return addr;
  }
  FAIL("table " << sig << " not in the XSDT");
  return 0;
}

struct MadtSummary {
  std::vector<MadtLocalApic> lapics;
  std::vector<MadtIoApic> ioapics;
  std::uint32_t lapic_address = 0;
};

MadtSummary parse_madt(const Guest& g) {
  auto b = g.table(find_table(g, "APIC"), "APIC");
  MadtSummary s;
  s.lapic_address = at<MadtHeader>(b, 0).local_apic_address;
  for (std::size_t off = sizeof(MadtHeader); off < b.size();) {
    const auto type = std::to_integer<std::uint8_t>(b[off]);
    REQUIRE(off + 2 <= b.size());
    const auto len = std::to_integer<std::uint8_t>(b[off + 1]);
    REQUIRE(len >= 2);
    if (type == kMadtTypeLocalApic) {
      REQUIRE(len == sizeof(MadtLocalApic));
      s.lapics.push_back(at<MadtLocalApic>(b, off));
    } else if (type == kMadtTypeIoApic) {
      REQUIRE(len == sizeof(MadtIoApic));
      s.ioapics.push_back(at<MadtIoApic>(b, off));
    }
    off += len;
  }
  return s;
}

}  // namespace

TEST_CASE("acpi: RSDP points at an XSDT listing FADT and MADT", "[acpi]") {
  Guest g(AcpiConfig{});
  const auto r = check_rsdp(g);
  CHECK(g.rsdp >= boot::kAcpiBase);
  const auto entries = xsdt_entries(g, r.xsdt_address);
  REQUIRE(entries.size() == 2);
  for (auto addr : entries) {
    CHECK(addr >= boot::kAcpiBase);
    CHECK(addr < boot::kAcpiBase + boot::kAcpiSize);
  }
  CHECK(find_table(g, "FACP") != 0);
  CHECK(find_table(g, "APIC") != 0);
}

TEST_CASE("acpi: without a LAPIC (hypercall-page transport) the XSDT lists the FADT and no MADT", "[acpi]") {
  AcpiConfig cfg;
  cfg.lapic = false;
  cfg.ioapic = false;
  Guest g(cfg);
  const auto r = check_rsdp(g);
  const auto entries = xsdt_entries(g, r.xsdt_address);
  REQUIRE(entries.size() == 1);
  CHECK(find_table(g, "FACP") != 0);
  auto tables = build_acpi_tables(cfg);
  REQUIRE(tables);
  CHECK(tables->madt == 0);
  cfg.vcpus = 2;
  CHECK_FALSE(build_acpi_tables(cfg).has_value());  // APs are started through LAPICs
}

TEST_CASE("acpi: MADT has one enabled LAPIC per vCPU with UID = APIC ID = vCPU id", "[acpi]") {
  for (std::uint32_t vcpus : {1u, 2u, 4u, 64u, 255u}) {
    INFO("vcpus " << vcpus);
    Guest g(AcpiConfig{.vcpus = vcpus});
    const auto madt = parse_madt(g);
    CHECK(madt.lapic_address == kLocalApicAddress);
    REQUIRE(madt.lapics.size() == vcpus);
    for (std::uint32_t i = 0; i < vcpus; ++i) {
      CHECK(madt.lapics[i].processor_uid == i);
      CHECK(madt.lapics[i].apic_id == i);
      CHECK(madt.lapics[i].flags == kMadtLapicEnabled);
    }
    REQUIRE(madt.ioapics.size() == 1);
    CHECK(madt.ioapics[0].address == kIoApicAddress);
    CHECK(madt.ioapics[0].gsi_base == 0);
    CHECK(madt.ioapics[0].ioapic_id == 0);
  }
}

TEST_CASE("acpi: MADT without IOAPIC when not asked for", "[acpi]") {
  Guest g(AcpiConfig{.vcpus = 3, .ioapic = false});
  const auto madt = parse_madt(g);
  CHECK(madt.lapics.size() == 3);
  CHECK(madt.ioapics.empty());
}

// FADT fields are packed: CHECK((a == b)) compares values, so no reference binds to a misaligned member.
TEST_CASE("acpi: FADT is hardware-reduced with I/O sleep registers and X_DSDT", "[acpi]") {
  Guest g(AcpiConfig{.vcpus = 2});
  auto b = g.table(find_table(g, "FACP"), "FACP");
  REQUIRE(b.size() == sizeof(Fadt));
  const auto f = at<Fadt>(b, 0);
  CHECK((f.header.revision >= 5));
  CHECK((f.flags & kFadtHwReducedAcpi) != 0);
  CHECK((f.sleep_control_reg.space_id == kGasSystemIo));
  CHECK((f.sleep_control_reg.bit_width == 8));
  CHECK((f.sleep_control_reg.access_size == kGasAccessByte));
  CHECK((f.sleep_control_reg.address == kSleepControlPort));
  CHECK((f.sleep_status_reg.space_id == kGasSystemIo));
  CHECK((f.sleep_status_reg.address == kSleepStatusPort));
  CHECK((f.flags & kFadtResetRegSupported) != 0);
  CHECK((f.reset_reg.space_id == kGasSystemIo));
  CHECK((f.reset_reg.address == kResetPort));
  CHECK((f.reset_value == kResetValue));
  CHECK((f.x_dsdt != 0));
  CHECK((f.dsdt == f.x_dsdt));
  g.table(f.x_dsdt, "DSDT");
}

TEST_CASE("acpi: sleep ports follow the config", "[acpi]") {
  Guest g(AcpiConfig{.sleep_control_port = 0x600, .sleep_status_port = 0x601});
  const auto f = at<Fadt>(g.table(find_table(g, "FACP"), "FACP"), 0);
  CHECK((f.sleep_control_reg.address == 0x600));
  CHECK((f.sleep_status_reg.address == 0x601));
}

TEST_CASE("acpi: a reset port on a sleep register is refused", "[acpi]") {
  CHECK_FALSE(build_acpi_tables(AcpiConfig{.reset_port = kSleepControlPort}).has_value());
  CHECK_FALSE(build_acpi_tables(AcpiConfig{.reset_port = kSleepStatusPort}).has_value());
}
