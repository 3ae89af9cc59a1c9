#pragma once
// Virtualisation of a host, from facts gathered on it (DESIGN.md
// "wp-provision"; the seed's "Xen, OpenVZ, Virtuozzo, and You!"), and whether
// hostname and resolv.conf may be made immutable there.

#include <map>
#include <string>
#include <string_view>

namespace wp {

/// A POSIX sh script run on the host; prints the facts as key=value lines.
extern const std::string_view k_virt_probe_script;

/// What the probe found; every field is "" when unknown.
struct VirtFacts {
    std::string detect_vm;        ///< systemd-detect-virt --vm ("none" or an id)
    std::string detect_container; ///< systemd-detect-virt --container
    bool proc_vz = false;
    bool proc_bc = false;
    bool proc_xen = false;
    std::string xen_capabilities; ///< /proc/xen/capabilities: "control_d" in dom0, empty in a domU
    std::string hypervisor_type;  ///< /sys/hypervisor/type
    std::string dmi_vendor;       ///< /sys/class/dmi/id/sys_vendor
    std::string dmi_product;      ///< /sys/class/dmi/id/product_name
    std::string clocksources;     ///< available_clocksource: "kvm-clock" in a KVM guest
    bool cpu_hypervisor = false;  ///< "hypervisor" in /proc/cpuinfo flags
    bool dockerenv = false;       ///< /.dockerenv
    bool containerenv = false;    ///< /run/.containerenv (podman)
    std::string pid1_container;   ///< container= in PID 1's environment
};

/// Parses the probe's output.
VirtFacts parse_virt_facts(std::string_view text);

/// Both layers, as systemd-detect-virt names them ("none" when absent).
struct VirtDetection {
    std::string vm = "none";
    std::string container = "none";
    bool openvz_family = false; ///< OpenVZ or Virtuozzo: not told apart from inside
    /// Xen's control domain: the hardware's own system, not a VM (vm stays
    /// "none", as systemd-detect-virt says), though Xen runs beneath it.
    bool xen_dom0 = false;
    /// The inventory's word for it: xen (a domU or dom0), openvz, kvm,
    /// vmware, lxc, physical or unknown (an OpenVZ-family container is
    /// "unknown": it might be Virtuozzo).
    std::string inventory_virt() const;
    /// "container docker on vm kvm", "vm xen", "xen dom0", "physical".
    std::string describe() const;
};

/// Both layers from the facts: systemd-detect-virt's answers where the host
/// has it, else the markers it reads itself (the OpenVZ /proc entries, PID 1's
/// container=, /run/.containerenv, /.dockerenv; DMI strings, /proc/xen and
/// its capabilities, the kvm-clock clock source standing in for CPUID,
/// /sys/hypervisor/type, the cpuinfo hypervisor flag).
VirtDetection detect_virt(const VirtFacts& facts);

/// Whether `chattr +i` may be used on this host, and why not.
struct ImmutablePolicy {
    bool allowed = false;
    std::string reason; ///< for the plan and the warning
};

/// Virtuozzo never (the container refuses to boot); an OpenVZ-family host
/// the inventory does not name (openvz or virtuozzo) is skipped with a
/// reason; everything else is allowed (the attempt may still fail where the
/// container lacks CAP_LINUX_IMMUTABLE, and says so).
ImmutablePolicy immutable_policy(std::string_view inventory_virt, const VirtDetection& detected);

/// The inventory's virt for a server: the detected one, except that an
/// OpenVZ-family host keeps what the operator set (openvz or virtuozzo:
/// nothing inside tells them apart) and "unknown" never overwrites a value.
std::string virt_for_inventory(std::string_view current, const VirtDetection& detected);

} // namespace wp
