#include "gdb/target_description.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "gdb/registers.hpp"

namespace kxen::gdb {

namespace {
// The flag and vector types gdb's own x86-64 descriptions use for eflags, mxcsr and xmm.
constexpr std::string_view kCoreTypes = R"(
    <flags id="i386_eflags" size="4">
      <field name="CF" start="0" end="0"/><field name="" start="1" end="1"/>
      <field name="PF" start="2" end="2"/><field name="AF" start="4" end="4"/>
      <field name="ZF" start="6" end="6"/><field name="SF" start="7" end="7"/>
      <field name="TF" start="8" end="8"/><field name="IF" start="9" end="9"/>
      <field name="DF" start="10" end="10"/><field name="OF" start="11" end="11"/>
      <field name="NT" start="14" end="14"/><field name="RF" start="16" end="16"/>
      <field name="VM" start="17" end="17"/><field name="AC" start="18" end="18"/>
      <field name="VIF" start="19" end="19"/><field name="VIP" start="20" end="20"/>
      <field name="ID" start="21" end="21"/>
    </flags>)";
constexpr std::string_view kSseTypes = R"(
    <vector id="v8bf16" type="bfloat16" count="8"/><vector id="v4f" type="ieee_single" count="4"/>
    <vector id="v2d" type="ieee_double" count="2"/><vector id="v16i8" type="int8" count="16"/>
    <vector id="v8i16" type="int16" count="8"/><vector id="v4i32" type="int32" count="4"/>
    <vector id="v2i64" type="int64" count="2"/>
    <union id="vec128">
      <field name="v8_bfloat16" type="v8bf16"/><field name="v4_float" type="v4f"/>
      <field name="v2_double" type="v2d"/><field name="v16_int8" type="v16i8"/>
      <field name="v8_int16" type="v8i16"/><field name="v4_int32" type="v4i32"/>
      <field name="v2_int64" type="v2i64"/><field name="uint128" type="uint128"/>
    </union>
    <flags id="i386_mxcsr" size="4">
      <field name="IE" start="0" end="0"/><field name="DE" start="1" end="1"/>
      <field name="ZE" start="2" end="2"/><field name="OE" start="3" end="3"/>
      <field name="UE" start="4" end="4"/><field name="PE" start="5" end="5"/>
      <field name="DAZ" start="6" end="6"/><field name="IM" start="7" end="7"/>
      <field name="DM" start="8" end="8"/><field name="ZM" start="9" end="9"/>
      <field name="OM" start="10" end="10"/><field name="UM" start="11" end="11"/>
      <field name="PM" start="12" end="12"/><field name="FZ" start="15" end="15"/>
    </flags>)";

std::string_view group_of(const RegisterInfo& r) {
  constexpr std::string_view kX87Control[] = {"fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop"};
  if (r.type == "i387_ext") return "float";
  for (auto name : kX87Control)
    if (r.name == name) return "float";
  if (r.type == "vec128" || r.name == "mxcsr") return "vector";
  if (r.feature.starts_with("org.kxen")) return "system";
  return "";
}

std::string build() {
  std::string xml =
      "<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n<target version=\"1.0\">\n"
      "  <architecture>i386:x86-64</architecture>\n";
  std::string_view open;
  std::uint32_t regnum = 0;
  for (const auto& r : register_table()) {
    if (r.feature != open) {
      if (!open.empty()) xml += "  </feature>\n";
      xml += fmt::format("  <feature name=\"{}\">", r.feature);
      if (r.feature.ends_with(".core")) xml += kCoreTypes;
      if (r.feature.ends_with(".sse")) xml += kSseTypes;
      xml += "\n";
      open = r.feature;
    }
    const auto group = group_of(r);
    xml += fmt::format("    <reg name=\"{}\" bitsize=\"{}\" type=\"{}\" regnum=\"{}\"{}/>\n", r.name, r.size * 8, r.type,
                       regnum++, group.empty() ? "" : fmt::format(" group=\"{}\"", group));
  }
  xml += "  </feature>\n</target>\n";
  return xml;
}
}  // namespace

const std::string& target_xml() {
  static const std::string xml = build();
  return xml;
}

std::string xfer_features(std::string_view annex, std::uint64_t offset, std::uint64_t length) {
  if (annex != "target.xml") return "E00";
  const std::string& xml = target_xml();
  if (offset >= xml.size()) return "l";
  const std::uint64_t n = std::min<std::uint64_t>(length, xml.size() - offset);
  const bool last = offset + n >= xml.size();
  return (last ? "l" : "m") + xml.substr(offset, n);
}

}  // namespace kxen::gdb
