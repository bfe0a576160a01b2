/* KVM_PRE_FAULT_MEMORY (Linux 6.11): Debian 12's linux-libc-dev (6.1) predates it, so the UAPI
 * definitions follow here only where the installed headers lack them. */
#pragma once

#include <linux/kvm.h>

#ifndef KVM_CAP_PRE_FAULT_MEMORY
#define KVM_CAP_PRE_FAULT_MEMORY 236
#endif

#ifndef KVM_PRE_FAULT_MEMORY
struct kvm_pre_fault_memory {
  __u64 gpa;
  __u64 size;
  __u64 flags;
  __u64 padding[5];
};
#define KVM_PRE_FAULT_MEMORY _IOWR(KVMIO, 0xd5, struct kvm_pre_fault_memory)
#endif
