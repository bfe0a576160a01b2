// Xen public headers for the hypercall core, pinned to the modern interface version.
#pragma once

// Without a version the headers give the legacy ABI (e.g. __HYPERVISOR_sched_op becomes the
// compat number 6), so pin the latest interface before the first <xen/...> include.
#ifndef __XEN_INTERFACE_VERSION__
#define __XEN_INTERFACE_VERSION__ 0x00040e00
#endif

#include <cstddef>
#include <cstdint>

#include <xen/xen.h>
#include <xen/errno.h>
#include <xen/features.h>
#include <xen/sched.h>
#include <xen/version.h>
#include <xen/arch-x86/cpuid.h>

static_assert(__XEN_INTERFACE_VERSION__ >= 0x00040e00,
              "a Xen header was included before xen/hypercall/xen_abi.hpp with the legacy interface");
static_assert(__HYPERVISOR_sched_op == 29 && __HYPERVISOR_event_channel_op == 32);

// Layouts the handlers copy to and from guest memory.
static_assert(sizeof(xen_feature_info_t) == 8);
static_assert(sizeof(xen_compile_info_t) == 144);
static_assert(sizeof(xen_extraversion_t) == 16);
static_assert(sizeof(xen_capabilities_info_t) == 1024);
static_assert(sizeof(xen_changeset_info_t) == 64);
static_assert(sizeof(xen_domain_handle_t) == 16);
static_assert(sizeof(xen_platform_parameters_t) == 8);  // 64-bit caller; 32-bit callers get 4 bytes
static_assert(sizeof(sched_shutdown_t) == 4);
