#include "blk/disk_set.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "blk/blk_backend.hpp"

namespace kxen::blk {

std::expected<std::vector<std::shared_ptr<xenbus::BackendFactory>>, std::string> open_disks(
    std::vector<DiskOptions> disks) {
  std::vector<std::string> taken;
  for (const auto& d : disks) {
    if (d.vdev.empty()) continue;
    if (std::find(taken.begin(), taken.end(), d.vdev) != taken.end())
      return std::unexpected(fmt::format("--disk {}: vdev={} is already used by another --disk", d.path, d.vdev));
    taken.push_back(d.vdev);
  }
  unsigned next = 0;
  for (auto& d : disks) {
    while (d.vdev.empty()) {
      const auto name = xvd_name(next++);
      if (!name) return std::unexpected(fmt::format("--disk {}: no free disk name left", d.path));
      if (std::find(taken.begin(), taken.end(), *name) == taken.end()) d.vdev = *name;
    }
  }
  std::vector<std::shared_ptr<xenbus::BackendFactory>> devices;
  for (auto& d : disks) {
    const auto devid = xen_vdev_number(d.vdev);
    if (!devid) return std::unexpected(fmt::format("--disk {}: vdev={} is not a disk name (xvda..xvdzz)", d.path, d.vdev));
    std::string vdev = d.vdev;
    auto image = DiskImage::open(d);
    if (!image) return std::unexpected(image.error());
    devices.push_back(std::make_shared<DiskDevice>(std::move(*image), std::move(vdev), *devid));
  }
  return devices;
}

}  // namespace kxen::blk
