#include "kvm/kvm_flex.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

_Static_assert(sizeof(struct kvm_cpuid2) == 8, "kvm_cpuid2 header");
_Static_assert(sizeof(struct kvm_msrs) == 8, "kvm_msrs header");
_Static_assert(sizeof(struct kvm_irq_routing) == 8, "kvm_irq_routing header");

int kxen_kvm_get_supported_cpuid(int kvm_fd, struct kvm_cpuid_entry2* entries, uint32_t* count) {
  struct kvm_cpuid2* cpuid = calloc(1, sizeof(*cpuid) + *count * sizeof(*entries));
  if (!cpuid) return -ENOMEM;
  cpuid->nent = *count;
  int r = ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) < 0 ? -errno : 0;
  if (r == 0) {
    *count = cpuid->nent;
    memcpy(entries, cpuid->entries, cpuid->nent * sizeof(*entries));
  }
  free(cpuid);
  return r;
}

int kxen_kvm_set_cpuid2(int vcpu_fd, const struct kvm_cpuid_entry2* entries, uint32_t count) {
  struct kvm_cpuid2* cpuid = calloc(1, sizeof(*cpuid) + count * sizeof(*entries));
  if (!cpuid) return -ENOMEM;
  cpuid->nent = count;
  memcpy(cpuid->entries, entries, count * sizeof(*entries));
  int r = ioctl(vcpu_fd, KVM_SET_CPUID2, cpuid) < 0 ? -errno : 0;
  free(cpuid);
  return r;
}

static int msrs_ioctl(int vcpu_fd, unsigned long request, struct kvm_msr_entry* entries, uint32_t count) {
  struct kvm_msrs* msrs = calloc(1, sizeof(*msrs) + count * sizeof(*entries));
  if (!msrs) return -ENOMEM;
  msrs->nmsrs = count;
  memcpy(msrs->entries, entries, count * sizeof(*entries));
  /* KVM returns how many MSRs it processed; fewer than asked is a failure for us. */
  int n = ioctl(vcpu_fd, request, msrs);
  int r = n < 0 ? -errno : ((uint32_t)n == count ? 0 : -EINVAL);
  if (r == 0) memcpy(entries, msrs->entries, count * sizeof(*entries));
  free(msrs);
  return r;
}

int kxen_kvm_get_msrs(int vcpu_fd, struct kvm_msr_entry* entries, uint32_t count) {
  return msrs_ioctl(vcpu_fd, KVM_GET_MSRS, entries, count);
}

int kxen_kvm_set_msrs(int vcpu_fd, const struct kvm_msr_entry* entries, uint32_t count) {
  struct kvm_msr_entry* copy = calloc(count ? count : 1, sizeof(*copy));
  if (!copy) return -ENOMEM;
  memcpy(copy, entries, count * sizeof(*entries));
  int r = msrs_ioctl(vcpu_fd, KVM_SET_MSRS, copy, count);
  free(copy);
  return r;
}

int kxen_kvm_set_gsi_routing(int vm_fd, const struct kvm_irq_routing_entry* entries, uint32_t count) {
  struct kvm_irq_routing* routing = calloc(1, sizeof(*routing) + count * sizeof(*entries));
  if (!routing) return -ENOMEM;
  routing->nr = count;
  memcpy(routing->entries, entries, count * sizeof(*entries));
  int r = ioctl(vm_fd, KVM_SET_GSI_ROUTING, routing) < 0 ? -errno : 0;
  free(routing);
  return r;
}
