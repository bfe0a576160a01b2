// Decoding the transmit ring: slots are fed one at a time (a packet may arrive across several
// batches) and come out as whole, validated packets, or as drops with the responses they owe.
//
// Wire format (xen/io/netif.h): a first request whose size is the whole packet, optional
// extra-info slots (when the first has NETTXF_extra_info, chained by XEN_NETIF_EXTRA_FLAG_MORE),
// then one request per further fragment while NETTXF_more_data is set. Every slot gets one
// response: data slots their id and a status, extra slots NETIF_RSP_NULL.
#pragma once

#include "net/netif_abi.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kxen::net {

struct TxFragment {
  grant_ref_t gref = 0;
  std::uint16_t offset = 0;
  std::uint16_t size = 0;  // bytes in this slot (for the first: the total minus the others)
  std::uint16_t id = 0;
};

struct GsoRequest {
  std::uint8_t type = XEN_NETIF_GSO_TYPE_NONE;  // XEN_NETIF_GSO_TYPE_TCPV4 / TCPV6
  std::uint16_t mss = 0;
};

struct TxPacket {
  std::vector<TxFragment> fragments;  // data slots in order; never empty
  std::uint32_t length = 0;           // the first slot's size: the whole packet
  std::uint16_t flags = 0;            // the first slot's NETTXF_*
  std::optional<GsoRequest> gso;
  // The responses owed, in ring order: a data slot's id, or nullopt for an extra slot (NULL).
  std::vector<std::optional<std::uint16_t>> responses;
};

enum class TxVerdict {
  kNeedMore,  // the packet continues in slots not yet fed
  kPacket,    // take(): a valid packet to send, then answer NETIF_RSP_OKAY (or ERROR if sending fails)
  kDrop,      // take(): answer every slot with NETIF_RSP_ERROR (extras NULL); reason() says why
  kFatal,     // the frontend is broken (netback's fatal error): disable the ring, answer nothing
};

class TxDecoder final {
 public:
  TxVerdict feed(const netif_tx_request_t& slot);
  // The packet the last kPacket/kDrop verdict completed; resets for the next packet.
  TxPacket take();
  const std::string& reason() const { return reason_; }
  // True between a packet's first slot and its last.
  bool in_packet() const { return expect_ != Expect::kFirst; }

 private:
  enum class Expect { kFirst, kExtra, kFragment };
  TxVerdict first(const netif_tx_request_t& slot);
  TxVerdict extra(const netif_tx_request_t& slot);
  TxVerdict fragment(const netif_tx_request_t& slot);
  TxVerdict finish();
  TxVerdict fatal(std::string why);

  Expect expect_ = Expect::kFirst;
  TxPacket packet_;
  unsigned extras_ = 0;
  std::optional<std::string> drop_;  // the first problem found; the packet is still read to its end
  std::string reason_;
};

// The response for a slot of `packet`: its id (or NETIF_RSP_NULL for an extra) with `status`.
netif_tx_response_t make_tx_response(std::optional<std::uint16_t> id, std::int16_t status);

}  // namespace kxen::net
