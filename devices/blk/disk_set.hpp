// The guest's disks from `--disk` options: names assigned, duplicates refused, images opened and
// locked before KVM is touched, so every mistake is one line and nothing is half set up.
#pragma once

#include <expected>
#include <memory>
#include <string>
#include <vector>

#include "blk/disk_options.hpp"
#include "xenbus/backend.hpp"

namespace kxen::blk {

// Disks without vdev= get the first free name of xvda, xvdb... in order.
std::expected<std::vector<std::shared_ptr<xenbus::BackendFactory>>, std::string> open_disks(
    std::vector<DiskOptions> disks);

}  // namespace kxen::blk
