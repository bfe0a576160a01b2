// The XenStore wire protocol through the ring, driven by a hostile guest: each input is a
// script of guest actions on one xenstore_domain_interface page (well-formed messages, raw
// bytes, scribbled indices, reconnects) mixed with dom0 writes that fire the guest's watches.
// The store must answer or refuse, never crash, hang or corrupt its tree.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "fuzz_input.hpp"
#include "kxen/guest_memory.hpp"
#include "xen/xenstore/ring.hpp"

using namespace kxen;
using namespace kxen::xenstore;
using kxen::fuzz::FuzzInput;

namespace {

constexpr Gpa kRingGpa = 0x10000;
constexpr int kMaxOps = 512;

// Paths a script names by index: the guest's own subtree, special paths, and junk.
constexpr std::string_view kPaths[] = {"/local/domain/1", "/local/domain/1/a", "/local/domain/1/a/b", "data/x",
                                       "@releaseDomain", "@introduceDomain", "/", "/local/domain/0", "a//b", ""};

struct Guest {
  XenStore store;
  GuestMemory memory;
  xenstore_domain_interface* intf = nullptr;
  std::unique_ptr<XenStoreRing> ring;
  std::string received;    // response bytes not yet split into messages
  bool well_behaved = true;  // no scribbled index yet: the response stream must parse

  bool setup() {
    if (!store.mkdir("/local/domain/1") || !store.set_perms("/local/domain/1", *parse_perms({"n1"}))) return false;
    if (memory.add_ram(kRingGpa, kPageSize)) return false;
    auto page = *memory.span(kRingGpa, kPageSize);
    intf = reinterpret_cast<xenstore_domain_interface*>(page.data());
    auto created = XenStoreRing::create(store, 1, page, [] {});
    if (!created) return false;
    ring = std::move(*created);
    return true;
  }

  // Copies what fits into the request ring, as a well-behaved guest would.
  std::size_t send(std::string_view bytes) {
    const std::uint32_t used = intf->req_prod - intf->req_cons;
    if (used > XENSTORE_RING_SIZE) return 0;
    const std::size_t n = std::min<std::size_t>(bytes.size(), XENSTORE_RING_SIZE - used);
    for (std::size_t i = 0; i < n; ++i) intf->req[MASK_XENSTORE_IDX(intf->req_prod + i)] = bytes[i];
    intf->req_prod += static_cast<std::uint32_t>(n);
    return n;
  }
  // A whole message, sent in pieces while the server drains the ring.
  void send_message(std::string_view msg) {
    for (int rounds = 0; !msg.empty() && rounds < 8; ++rounds) {
      msg.remove_prefix(send(msg));
      ring->process();
      consume();
    }
  }
  // Reads every response byte and checks each complete message's header.
  void consume() {
    std::uint32_t avail = intf->rsp_prod - intf->rsp_cons;
    if (avail > XENSTORE_RING_SIZE) {  // only after the script scribbled an index
      intf->rsp_cons = intf->rsp_prod;
      return;
    }
    for (; avail > 0; --avail) received += intf->rsp[MASK_XENSTORE_IDX(intf->rsp_cons++)];
    while (received.size() >= sizeof(xsd_sockmsg)) {
      xsd_sockmsg header;
      std::memcpy(&header, received.data(), sizeof(header));
      if (well_behaved && header.len > XENSTORE_PAYLOAD_MAX) kxen::fuzz::invariant_failed("reply longer than XENSTORE_PAYLOAD_MAX");
      if (received.size() < sizeof(header) + header.len) break;
      received.erase(0, sizeof(header) + header.len);
    }
    if (received.size() > 2 * XENSTORE_RING_SIZE) received.clear();
  }
  void scribble(FuzzInput& in) {
    well_behaved = false;
    received.clear();
    const std::uint32_t value = in.u32();
    switch (in.u8() % 6) {
      case 0: intf->req_cons = value; break;
      case 1: intf->req_prod = value; break;
      case 2: intf->rsp_cons = value; break;
      case 3: intf->rsp_prod = value; break;
      case 4: intf->connection = value; break;
      default: intf->error = value; break;
    }
  }
};

std::string message(FuzzInput& in) {
  const std::uint32_t type = in.u8() % (XS_TYPE_COUNT + 2);
  const std::uint32_t req_id = in.u8();
  const std::uint32_t tx = in.u8() % 4;
  const std::size_t len = in.u16() % (XENSTORE_PAYLOAD_MAX + 64);
  return encode_message(type, req_id, tx, in.string(len));
}

// Every listed child exists, walking down from "/" as dom0.
void check_tree(XenStore& store, const std::string& path, int depth) {
  if (depth > 64) kxen::fuzz::invariant_failed("tree deeper than 64");
  auto children = store.directory(path);
  if (!children) kxen::fuzz::invariant_failed("a listed child cannot be listed");
  for (const auto& c : *children) check_tree(store, path == "/" ? "/" + c : path + "/" + c, depth + 1);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  kxen::fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzInput in(data, size);
  Guest g;
  if (!g.setup()) kxen::fuzz::invariant_failed("ring set-up");
  for (int op = 0; op < kMaxOps && !in.empty(); ++op) {
    switch (in.u8() % 8) {
      case 0: g.send_message(message(in)); break;
      case 1: g.send(in.string(in.u16() % (XENSTORE_RING_SIZE + 1))); g.ring->process(); break;
      case 2: g.consume(); break;
      case 3: g.scribble(in); g.ring->process(); break;
      case 4:  // reconnect: the server resets the rings and clears the flag
        g.intf->connection = XENSTORE_RECONNECT;
        g.ring->process();
        g.received.clear();
        break;
      case 5: {  // dom0 changes a node the guest may watch
        const auto path = kPaths[in.u8() % std::size(kPaths)];
        (void)g.store.write(path, in.string(in.u8()));
        g.ring->process();
        break;
      }
      case 6: g.ring->process(); g.consume(); break;
      default: {  // the guest pokes any byte of the page
        const std::size_t at = in.u16() % sizeof(xenstore_domain_interface);
        reinterpret_cast<std::uint8_t*>(g.intf)[at] = in.u8();
        g.well_behaved = false;
        g.ring->process();
        break;
      }
    }
  }
  check_tree(g.store, "/", 0);
  return 0;
}
