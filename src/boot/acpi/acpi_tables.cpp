// ACPI table layout for PVH guests: RSDP, XSDT, FADT (hardware-reduced), MADT, DSDT with _S5.
#include "boot/acpi/acpi_tables.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <fmt/format.h>

#include "boot/acpi/acpi_structs.hpp"

namespace kxen::boot::acpi {
namespace {

constexpr std::uint64_t kTableAlign = 16;  // RSDP must be 16-byte aligned; tables too, by habit
constexpr std::uint8_t kFadtRevision = 6;
constexpr std::uint8_t kDsdtRevision = 2;  // 2: AML integers are 64-bit
constexpr std::uint8_t kMadtRevision = 4;
constexpr std::uint8_t kXsdtRevision = 1;

// AML for Name(\_S5_, Package(){5, 5, 0, 0}): SLP_TYPa, SLP_TYPb, reserved, reserved.
constexpr std::array<std::uint8_t, 14> kS5Aml = {
    0x08, '_', 'S', '5', '_',   // NameOp, NameSeg
    0x12, 0x08, 0x04,           // PackageOp, PkgLength (8 bytes incl. itself), NumElements
    0x0A, kSleepTypeS5,         // BytePrefix SLP_TYPa
    0x0A, kSleepTypeS5,         // BytePrefix SLP_TYPb
    0x00, 0x00,                 // ZeroOp, ZeroOp
};

std::uint64_t align_up(std::uint64_t v) { return (v + kTableAlign - 1) & ~(kTableAlign - 1); }

// Offsets of each table inside the byte block, all relative to cfg.base.
struct Layout {
  std::uint64_t rsdp, xsdt, fadt, madt, dsdt, end;
  std::uint32_t xsdt_len, madt_len, dsdt_len;
};

Layout plan(const AcpiConfig& cfg) {
  Layout l{};
  // Without a LAPIC there is nothing for an MADT to describe; the XSDT lists the FADT alone.
  l.xsdt_len = sizeof(SdtHeader) + (cfg.lapic ? 2 : 1) * kXsdtEntrySize;
  l.madt_len = cfg.lapic ? sizeof(MadtHeader) + cfg.vcpus * sizeof(MadtLocalApic) +
                               (cfg.ioapic ? sizeof(MadtIoApic) : 0)
                         : 0;
  l.dsdt_len = sizeof(SdtHeader) + kS5Aml.size();
  l.rsdp = 0;
  l.xsdt = align_up(l.rsdp + sizeof(Rsdp));
  l.fadt = align_up(l.xsdt + l.xsdt_len);
  l.madt = align_up(l.fadt + sizeof(Fadt));
  l.dsdt = align_up(l.madt + l.madt_len);
  l.end = l.dsdt + l.dsdt_len;
  return l;
}

template <class T>
void put(std::vector<std::byte>& out, std::uint64_t off, const T& value) {
  static_assert(std::is_trivially_copyable_v<T>);
  std::memcpy(out.data() + off, &value, sizeof(T));
}

template <std::size_t N>
void copy_text(char (&dst)[N], const char* src) {
  std::memcpy(dst, src, N);  // ACPI ids are fixed-width, not NUL-terminated
}

SdtHeader make_header(const char (&sig)[5], std::uint32_t length, std::uint8_t revision) {
  SdtHeader h{};
  copy_text(h.signature, sig);
  h.length = length;
  h.revision = revision;
  copy_text(h.oem_id, "KXEN  ");
  copy_text(h.oem_table_id, "KXENPVH ");
  h.oem_revision = 1;
  copy_text(h.creator_id, "KXEN");
  h.creator_revision = 1;
  return h;
}

// Sets the checksum byte at off+checksum_at so [off, off+len) sums to 0.
void seal(std::vector<std::byte>& out, std::uint64_t off, std::uint64_t len, std::size_t checksum_at) {
  out[off + checksum_at] = std::byte{0};
  auto sum = acpi_byte_sum(std::span<const std::byte>(out).subspan(off, len));
  out[off + checksum_at] = std::byte(static_cast<std::uint8_t>(-sum));
}

void emit_rsdp(std::vector<std::byte>& out, const Layout& l, Gpa base) {
  Rsdp r{};
  std::memcpy(r.signature, "RSD PTR ", 8);
  copy_text(r.oem_id, "KXEN  ");
  r.revision = 2;
  r.length = sizeof(Rsdp);
  r.xsdt_address = base + l.xsdt;
  put(out, l.rsdp, r);
  seal(out, l.rsdp, kRsdpV1Length, offsetof(Rsdp, checksum));
  seal(out, l.rsdp, sizeof(Rsdp), offsetof(Rsdp, extended_checksum));
}

void emit_xsdt(std::vector<std::byte>& out, const Layout& l, Gpa base) {
  put(out, l.xsdt, make_header("XSDT", l.xsdt_len, kXsdtRevision));
  put(out, l.xsdt + sizeof(SdtHeader), std::uint64_t{base + l.fadt});
  if (l.madt_len) put(out, l.xsdt + sizeof(SdtHeader) + kXsdtEntrySize, std::uint64_t{base + l.madt});
  seal(out, l.xsdt, l.xsdt_len, offsetof(SdtHeader, checksum));
}

Gas io_byte_register(std::uint16_t port) {
  return Gas{kGasSystemIo, 8, 0, kGasAccessByte, port};
}

void emit_fadt(std::vector<std::byte>& out, const Layout& l, const AcpiConfig& cfg) {
  Fadt f{};
  f.header = make_header("FACP", sizeof(Fadt), kFadtRevision);
  // Both DSDT pointers agree, so ACPICA has nothing to complain about; base < 4 GiB is checked.
  f.dsdt = static_cast<std::uint32_t>(cfg.base + l.dsdt);
  f.x_dsdt = cfg.base + l.dsdt;
  f.flags = kFadtHwReducedAcpi | kFadtResetRegSupported;
  f.iapc_boot_arch = kBootArchNoVga | kBootArchNoCmosRtc;
  f.sleep_control_reg = io_byte_register(cfg.sleep_control_port);
  f.sleep_status_reg = io_byte_register(cfg.sleep_status_port);
  f.reset_reg = io_byte_register(cfg.reset_port);
  f.reset_value = kResetValue;
  std::memcpy(&f.hypervisor_vendor_id, "KXEN\0\0\0\0", 8);
  put(out, l.fadt, f);
  seal(out, l.fadt, sizeof(Fadt), offsetof(SdtHeader, checksum));
}

void emit_madt(std::vector<std::byte>& out, const Layout& l, const AcpiConfig& cfg) {
  if (!cfg.lapic) return;
  MadtHeader m{};
  m.header = make_header("APIC", l.madt_len, kMadtRevision);
  m.local_apic_address = kLocalApicAddress;
  put(out, l.madt, m);
  auto off = l.madt + sizeof(MadtHeader);
  for (std::uint32_t cpu = 0; cpu < cfg.vcpus; ++cpu, off += sizeof(MadtLocalApic)) {
    auto id = static_cast<std::uint8_t>(cpu);
    put(out, off, MadtLocalApic{kMadtTypeLocalApic, sizeof(MadtLocalApic), id, id, kMadtLapicEnabled});
  }
  if (cfg.ioapic) put(out, off, MadtIoApic{kMadtTypeIoApic, sizeof(MadtIoApic), 0, 0, kIoApicAddress, 0});
  seal(out, l.madt, l.madt_len, offsetof(SdtHeader, checksum));
}

void emit_dsdt(std::vector<std::byte>& out, const Layout& l) {
  put(out, l.dsdt, make_header("DSDT", l.dsdt_len, kDsdtRevision));
  put(out, l.dsdt + sizeof(SdtHeader), kS5Aml);
  seal(out, l.dsdt, l.dsdt_len, offsetof(SdtHeader, checksum));
}

std::optional<std::string> check_config(const AcpiConfig& cfg) {
  if (cfg.vcpus == 0 || cfg.vcpus > kMaxVcpus)
    return fmt::format("acpi: {} vCPUs; the MADT describes 1..{}", cfg.vcpus, kMaxVcpus);
  if (!cfg.lapic && cfg.vcpus > 1) return fmt::format("acpi: {} vCPUs without local APICs", cfg.vcpus);
  if (cfg.base % kTableAlign != 0) return fmt::format("acpi: base {:#x} is not 16-byte aligned", cfg.base);
  if (cfg.base >= kFourGiB || cfg.size_limit > kFourGiB - cfg.base)
    return fmt::format("acpi: area {:#x}+{:#x} is not below 4 GiB", cfg.base, cfg.size_limit);
  if (cfg.sleep_control_port == cfg.sleep_status_port)
    return fmt::format("acpi: sleep control and status share port {:#x}", cfg.sleep_control_port);
  if (cfg.reset_port == cfg.sleep_control_port || cfg.reset_port == cfg.sleep_status_port)
    return fmt::format("acpi: reset port {:#x} overlaps a sleep register", cfg.reset_port);
  return std::nullopt;
}

}  // namespace

std::uint8_t acpi_byte_sum(std::span<const std::byte> data) {
  std::uint8_t sum = 0;
  for (auto b : data) sum = static_cast<std::uint8_t>(sum + std::to_integer<std::uint8_t>(b));
  return sum;
}

std::expected<AcpiTables, std::string> build_acpi_tables(const AcpiConfig& cfg) {
  if (auto err = check_config(cfg)) return std::unexpected(*err);
  const Layout l = plan(cfg);
  if (l.end > cfg.size_limit)
    return std::unexpected(fmt::format("acpi: tables for {} vCPUs need {} bytes, area holds {}",
                                       cfg.vcpus, l.end, cfg.size_limit));
  AcpiTables t;
  t.base = cfg.base;
  t.rsdp = cfg.base + l.rsdp;
  t.xsdt = cfg.base + l.xsdt;
  t.fadt = cfg.base + l.fadt;
  t.madt = cfg.lapic ? cfg.base + l.madt : 0;
  t.dsdt = cfg.base + l.dsdt;
  t.bytes.assign(l.end, std::byte{0});
  emit_dsdt(t.bytes, l);
  emit_madt(t.bytes, l, cfg);
  emit_fadt(t.bytes, l, cfg);
  emit_xsdt(t.bytes, l, cfg.base);
  emit_rsdp(t.bytes, l, cfg.base);
  return t;
}

std::expected<void, std::string> write_acpi_tables(GuestMemory& mem, const AcpiTables& tables) {
  if (!mem.write(tables.base, tables.bytes))
    return std::unexpected(fmt::format("acpi: guest memory {:#x}+{:#x} is not backed", tables.base,
                                       tables.bytes.size()));
  return {};
}

std::expected<Gpa, std::string> write_acpi_tables(GuestMemory& mem, const AcpiConfig& cfg) {
  auto tables = build_acpi_tables(cfg);
  if (!tables) return std::unexpected(tables.error());
  if (auto written = write_acpi_tables(mem, *tables); !written) return std::unexpected(written.error());
  return tables->rsdp;
}

}  // namespace kxen::boot::acpi
