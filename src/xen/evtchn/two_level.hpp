// 2-level event delivery on shared_info's evtchn_pending/evtchn_mask bitmaps and each
// vcpu_info's evtchn_pending_sel selector (Xen's common/event_2l.c semantics).
#pragma once

#include "xen/evtchn/delivery.hpp"

namespace kxen {

// Byte offsets of the 2-level fields for the native (64-bit words) or 32-bit layout.
struct TwoLevelLayout {
  unsigned word_bytes = 8;
  std::uint64_t pending_off = 0;  // in shared_info
  std::uint64_t mask_off = 0;     // in shared_info
  std::uint64_t sel_off = 0;      // in vcpu_info
  unsigned word_bits() const { return word_bytes * 8; }
  std::uint32_t ports() const { return word_bits() * word_bits(); }
  static TwoLevelLayout for_guest(bool long_mode);
};

class TwoLevelDelivery final : public PortDelivery {
 public:
  TwoLevelDelivery(const GuestMemory& memory, const SharedInfoLocator& locator)
      : locator_(locator), memory_(memory), upcall_(memory, locator) {}

  EventAbi abi() const override { return EventAbi::two_level; }
  std::uint32_t port_limit() const override { return layout().ports(); }
  SetPendingResult set_pending(const PortTarget& target, DeliveryEffects& fx) override;
  void clear_pending(evtchn_port_t port) override;
  void unmask(const PortTarget& target, DeliveryEffects& fx) override;
  bool is_pending(evtchn_port_t port) const override;
  bool is_masked(evtchn_port_t port) const override;

 private:
  TwoLevelLayout layout() const { return TwoLevelLayout::for_guest(locator_.shared_info_64bit()); }
  std::optional<std::span<std::byte>> shared_info() const;
  // Address of the bitmap word holding `port` (pending or mask array); nullptr if unusable.
  std::byte* bitmap_word(std::uint64_t array_off, evtchn_port_t port, const TwoLevelLayout& l) const;
  // Sets the selector bit and upcall flag on `vcpu` for the word holding `port`.
  void raise_selector(evtchn_port_t port, std::uint32_t vcpu, const TwoLevelLayout& l, DeliveryEffects& fx) const;

  const SharedInfoLocator& locator_;
  const GuestMemory& memory_;
  UpcallFlag upcall_;
};

}  // namespace kxen
