#include "net/tx_decoder.hpp"

#include <fmt/format.h>

namespace kxen::net {

TxVerdict TxDecoder::feed(const netif_tx_request_t& slot) {
  switch (expect_) {
    case Expect::kFirst:
      return first(slot);
    case Expect::kExtra:
      return extra(slot);
    case Expect::kFragment:
      return fragment(slot);
  }
  return fatal("decoder state");
}

TxPacket TxDecoder::take() {
  TxPacket out = std::move(packet_);
  packet_ = TxPacket{};
  expect_ = Expect::kFirst;
  extras_ = 0;
  drop_.reset();
  return out;
}

TxVerdict TxDecoder::first(const netif_tx_request_t& slot) {
  packet_ = TxPacket{};
  packet_.length = slot.size;
  packet_.flags = slot.flags;
  packet_.fragments.push_back(TxFragment{slot.gref, slot.offset, slot.size, slot.id});
  packet_.responses.emplace_back(slot.id);
  if (slot.size < kEthHeaderLen) drop_ = fmt::format("packet of {} bytes, shorter than an Ethernet header", slot.size);
  if (slot.flags & NETTXF_extra_info) {
    expect_ = Expect::kExtra;
    return TxVerdict::kNeedMore;
  }
  if (slot.flags & NETTXF_more_data) {
    expect_ = Expect::kFragment;
    return TxVerdict::kNeedMore;
  }
  return finish();
}

TxVerdict TxDecoder::extra(const netif_tx_request_t& slot) {
  const netif_extra_info_t e = extra_from_slot(slot);
  packet_.responses.emplace_back(std::nullopt);
  if (e.type == XEN_NETIF_EXTRA_TYPE_NONE || e.type >= XEN_NETIF_EXTRA_TYPE_MAX)
    return fatal(fmt::format("extra-info slot of type {}", e.type));
  if (++extras_ > kMaxExtraSlots) return fatal(fmt::format("more than {} extra-info slots", kMaxExtraSlots));
  if (e.type == XEN_NETIF_EXTRA_TYPE_GSO) {
    packet_.gso = GsoRequest{e.u.gso.type, e.u.gso.size};
    if (e.u.gso.type != XEN_NETIF_GSO_TYPE_TCPV4 && e.u.gso.type != XEN_NETIF_GSO_TYPE_TCPV6)
      drop_ = drop_.value_or(fmt::format("GSO type {} is not TCPv4/TCPv6", e.u.gso.type));
    else if (e.u.gso.size == 0)
      drop_ = drop_.value_or(std::string("GSO with an MSS of 0"));
    else if (e.u.gso.size == 0xFFFF)  // Linux's GSO_BY_FRAGS: the host kernel would not cut TCP by it
      drop_ = drop_.value_or(std::string("GSO with an MSS of 65535"));
  }
  // Multicast filter and hash extras are accepted and ignored (nothing is advertised for them).
  if (e.flags & XEN_NETIF_EXTRA_FLAG_MORE) return TxVerdict::kNeedMore;
  if (packet_.flags & NETTXF_more_data) {
    expect_ = Expect::kFragment;
    return TxVerdict::kNeedMore;
  }
  return finish();
}

TxVerdict TxDecoder::fragment(const netif_tx_request_t& slot) {
  packet_.fragments.push_back(TxFragment{slot.gref, slot.offset, slot.size, slot.id});
  packet_.responses.emplace_back(slot.id);
  if (packet_.fragments.size() > kFatalPacketSlots)
    return fatal(fmt::format("a packet of more than {} slots", kFatalPacketSlots));
  if (slot.flags & NETTXF_more_data) return TxVerdict::kNeedMore;
  return finish();
}

TxVerdict TxDecoder::finish() {
  expect_ = Expect::kFirst;
  auto& frags = packet_.fragments;
  if (!drop_ && frags.size() > kMaxPacketSlots)
    drop_ = fmt::format("a packet of {} slots (at most {})", frags.size(), kMaxPacketSlots);
  std::uint32_t rest = 0;
  for (std::size_t i = 1; i < frags.size(); ++i) rest += frags[i].size;
  if (!drop_ && rest > packet_.length)
    drop_ = fmt::format("fragments of {} bytes in a packet of {}", rest, packet_.length);
  if (!drop_) frags[0].size = static_cast<std::uint16_t>(packet_.length - rest);
  for (const TxFragment& f : frags) {
    if (!drop_ && std::uint32_t{f.offset} + f.size > kXenPageSize)
      drop_ = fmt::format("slot {} crosses its page (offset {}, size {})", f.id, f.offset, f.size);
  }
  if (!drop_ && packet_.gso && !(packet_.flags & NETTXF_csum_blank))
    drop_ = std::string("GSO on a packet without a blank checksum");
  if (drop_) {
    reason_ = *drop_;
    return TxVerdict::kDrop;
  }
  reason_.clear();
  return TxVerdict::kPacket;
}

TxVerdict TxDecoder::fatal(std::string why) {
  reason_ = std::move(why);
  expect_ = Expect::kFirst;
  return TxVerdict::kFatal;
}

netif_tx_response_t make_tx_response(std::optional<std::uint16_t> id, std::int16_t status) {
  netif_tx_response_t rsp{};
  rsp.id = id.value_or(0);
  rsp.status = id ? status : static_cast<std::int16_t>(NETIF_RSP_NULL);
  return rsp;
}

}  // namespace kxen::net
