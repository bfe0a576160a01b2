// The block backend xen-blkfront drives: one disk image, up to `queues` rings of up to 16 pages
// each, indirect descriptors, flush, barrier and discard (../shared/BACKENDS.md has the protocol).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "blk/blk_queue.hpp"
#include "blk/disk_image.hpp"
#include "xenbus/backend.hpp"

namespace kxen::blk {

inline constexpr unsigned kMaxRingPageOrder = 4;      // 16 pages per ring, as blkback offers
inline constexpr unsigned kDefaultQueues = 4;         // blkfront's own default max_queues
inline constexpr std::uint32_t kIndirectSegments = 256;  // blkback's offer

// A guest disk: the open, locked image lives as long as kxen (across guest reboots); each boot
// gets a fresh BlkBackend over it.
class DiskDevice final : public xenbus::BackendFactory {
 public:
  DiskDevice(DiskImage image, std::string vdev, std::uint32_t devid)
      : image_(std::move(image)), vdev_(std::move(vdev)), devid_(devid) {}
  std::string_view type() const override { return "vbd"; }
  std::uint32_t devid() const override { return devid_; }
  std::string describe() const override;
  std::unique_ptr<xenbus::XenBackend> create() override;

 private:
  DiskImage image_;
  std::string vdev_;
  std::uint32_t devid_;
};

class BlkBackend final : public xenbus::XenBackend {
 public:
  BlkBackend(DiskImage& image, std::string vdev, std::uint32_t devid)
      : image_(image), vdev_(std::move(vdev)), devid_(devid) {}
  ~BlkBackend() override { disconnect(); }

  std::string_view type() const override { return "vbd"; }
  std::uint32_t devid() const override { return devid_; }
  xenbus::NodeList frontend_nodes() const override;
  xenbus::NodeList backend_nodes() const override;
  std::expected<void, std::string> advertise(xenbus::BackendContext& ctx) override;
  std::expected<void, std::string> connect(xenbus::BackendContext& ctx) override;
  void disconnect() override;
  // A resized image: its new size goes into `sectors` (blkfront re-reads it on a repeated Connected).
  std::expected<bool, std::string> refresh(xenbus::BackendContext& ctx) override;

 private:
  unsigned max_queues() const;
  BlkLimits limits() const;
  std::expected<std::unique_ptr<BlkQueue>, std::string> connect_queue(xenbus::BackendContext& ctx,
                                                                       const std::string& dir, unsigned index,
                                                                       unsigned order, BlkifAbi abi);

  DiskImage& image_;
  std::string vdev_;
  std::uint32_t devid_;
  std::vector<std::unique_ptr<BlkQueue>> queues_;
};

}  // namespace kxen::blk
