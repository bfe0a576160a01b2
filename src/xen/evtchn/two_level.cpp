#include "xen/evtchn/two_level.hpp"

#include "kxen/log.hpp"
#include "xen/evtchn/guest_bits.hpp"

namespace kxen {

static_assert(sizeof(xen_ulong_t) == 8);
static_assert(offsetof(shared_info, evtchn_pending) == 2048);
static_assert(offsetof(shared_info, evtchn_mask) == 2048 + 64 * 8);
static_assert(offsetof(vcpu_info, evtchn_pending_sel) == 8);
static_assert(EVTCHN_2L_NR_CHANNELS == 4096);

TwoLevelLayout TwoLevelLayout::for_guest(bool long_mode) {
  if (long_mode)
    return {8, offsetof(shared_info, evtchn_pending), offsetof(shared_info, evtchn_mask),
            offsetof(vcpu_info, evtchn_pending_sel)};
  // 32-bit layout: vcpu_info is still 64 bytes, so the bitmaps start at the same offset but
  // hold 32 words of 32 bits; the selector follows the two flag bytes and two pad bytes.
  constexpr std::uint64_t pending = offsetof(shared_info, evtchn_pending);
  return {4, pending, pending + 32 * 4, 4};
}

std::optional<std::span<std::byte>> TwoLevelDelivery::shared_info() const {
  const auto gpa = locator_.shared_info_gpa();
  if (!gpa || (*gpa & 7) != 0) return std::nullopt;
  return memory_.span(*gpa, sizeof(struct shared_info));
}

std::byte* TwoLevelDelivery::bitmap_word(std::uint64_t array_off, evtchn_port_t port, const TwoLevelLayout& l) const {
  if (port >= l.ports()) return nullptr;
  const auto info = shared_info();
  if (!info) return nullptr;
  return info->data() + array_off + (port / l.word_bits()) * l.word_bytes;
}

void TwoLevelDelivery::raise_selector(evtchn_port_t port, std::uint32_t vcpu, const TwoLevelLayout& l,
                                      DeliveryEffects& fx) const {
  const auto info = upcall_.vcpu_info_of(vcpu);
  if (!info) {
    KXEN_GUEST_WARN("evtchn: vcpu {} has no usable vcpu_info; port {} not signalled", vcpu, port);
    return;
  }
  if (!guest_bits::test_and_set(info->data() + l.sel_off, l.word_bytes, port / l.word_bits()))
    upcall_.mark_pending(vcpu, fx);
}

SetPendingResult TwoLevelDelivery::set_pending(const PortTarget& target, DeliveryEffects& fx) {
  const auto l = layout();
  std::byte* pending = bitmap_word(l.pending_off, target.port, l);
  if (!pending) {
    KXEN_GUEST_WARN("evtchn: no shared_info mapped; event on port {} dropped", target.port);
    return {true, false};
  }
  const unsigned bit = target.port % l.word_bits();
  if (guest_bits::test_and_set(pending, l.word_bytes, bit)) return {true, false};
  std::byte* mask = bitmap_word(l.mask_off, target.port, l);
  if (mask && !guest_bits::test(mask, l.word_bytes, bit)) raise_selector(target.port, target.vcpu, l, fx);
  return {true, true};
}

void TwoLevelDelivery::clear_pending(evtchn_port_t port) {
  const auto l = layout();
  if (std::byte* pending = bitmap_word(l.pending_off, port, l))
    guest_bits::test_and_clear(pending, l.word_bytes, port % l.word_bits());
}

void TwoLevelDelivery::unmask(const PortTarget& target, DeliveryEffects& fx) {
  const auto l = layout();
  std::byte* mask = bitmap_word(l.mask_off, target.port, l);
  std::byte* pending = bitmap_word(l.pending_off, target.port, l);
  if (!mask || !pending) return;
  const unsigned bit = target.port % l.word_bits();
  // Deliver now only if this call cleared the mask and the event is waiting.
  if (guest_bits::test_and_clear(mask, l.word_bytes, bit) && guest_bits::test(pending, l.word_bytes, bit))
    raise_selector(target.port, target.vcpu, l, fx);
}

bool TwoLevelDelivery::is_pending(evtchn_port_t port) const {
  const auto l = layout();
  std::byte* pending = bitmap_word(l.pending_off, port, l);
  return pending && guest_bits::test(pending, l.word_bytes, port % l.word_bits());
}

bool TwoLevelDelivery::is_masked(evtchn_port_t port) const {
  const auto l = layout();
  std::byte* mask = bitmap_word(l.mask_off, port, l);
  return !mask || guest_bits::test(mask, l.word_bytes, port % l.word_bits());
}

}  // namespace kxen
