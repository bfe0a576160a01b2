#include "xenbus/io_thread.hpp"

#include <pthread.h>

#include <algorithm>
#include <string>

namespace kxen {

void name_io_thread(std::string_view label) {
  std::string name(label);
  std::replace(name.begin(), name.end(), ' ', '-');
  name.resize(std::min<std::size_t>(name.size(), 15));  // TASK_COMM_LEN - 1
  pthread_setname_np(pthread_self(), name.c_str());
}

}  // namespace kxen
