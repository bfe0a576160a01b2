// A tap device as the host side of a NIC: IFF_VNET_HDR so checksums and GSO pass through to the
// host stack, IFF_MULTI_QUEUE with one fd per queue. `tap=` opens an existing tap; `bridge=`
// creates one (named by the kernel, kxen%d), enslaves it to the bridge and brings it up; the
// kernel removes it when kxen exits and its fds close.
#pragma once

#include <expected>
#include <memory>
#include <string>
#include <vector>

#include "kvm/fd.hpp"
#include "net/host_port.hpp"

namespace kxen::net {

class TapPort final : public HostPort {
 public:
  // One port per queue of the tap `ifname` (an existing tap), or of a new tap on `bridge`.
  static std::expected<std::vector<std::unique_ptr<TapPort>>, std::string> open_tap(const std::string& ifname,
                                                                                    unsigned queues, unsigned mtu);
  static std::expected<std::vector<std::unique_ptr<TapPort>>, std::string> open_on_bridge(const std::string& bridge,
                                                                                          unsigned queues, unsigned mtu);
  const std::string& ifname() const { return ifname_; }

  bool send(const VnetHeader& hdr, std::span<const iovec> frame) override;
  RxFeatures set_rx_offloads(bool csum, const RxFeatures& wanted) override;
  std::expected<void, std::string> set_in_use(bool in_use) override;
  std::size_t max_frame() const override { return kMaxGsoFrame; }
  void attach(Receiver*) override {}
  void add_polls(std::vector<pollfd>& fds, int& timeout_ms, bool want_rx) override;
  bool service(std::span<const pollfd> fds, Receiver& rx, unsigned budget) override;

 private:
  TapPort(Fd fd, std::string ifname, bool multi_queue)
      : fd_(std::move(fd)), ifname_(std::move(ifname)), multi_queue_(multi_queue) {}
  static std::expected<std::vector<std::unique_ptr<TapPort>>, std::string> open_queues(const std::string& ifname,
                                                                                       unsigned queues);
  Fd fd_;
  std::string ifname_;
  bool multi_queue_;
  bool attached_ = true;  // TUNSETIFF attaches; attaching twice is EINVAL
};

}  // namespace kxen::net
