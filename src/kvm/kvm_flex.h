/* KVM ioctls whose argument ends in a flexible array. linux-libc-dev 6.1 declares those arrays
 * with __DECLARE_FLEX_ARRAY, which in C++ adds a 1-byte empty struct: sizes, ioctl numbers and
 * entry offsets come out wrong (kvm_cpuid2 is 12 bytes, not 8). Compiled as C, they are right. */
#pragma once

#include <linux/kvm.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Each returns 0 or a negative errno; *count is in/out capacity/filled where given. */
int kxen_kvm_get_supported_cpuid(int kvm_fd, struct kvm_cpuid_entry2* entries, uint32_t* count);
int kxen_kvm_set_cpuid2(int vcpu_fd, const struct kvm_cpuid_entry2* entries, uint32_t count);
int kxen_kvm_get_msrs(int vcpu_fd, struct kvm_msr_entry* entries, uint32_t count);
int kxen_kvm_set_msrs(int vcpu_fd, const struct kvm_msr_entry* entries, uint32_t count);
int kxen_kvm_set_gsi_routing(int vm_fd, const struct kvm_irq_routing_entry* entries, uint32_t count);

#ifdef __cplusplus
}
#endif
