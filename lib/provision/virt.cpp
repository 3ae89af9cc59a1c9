#include "provision/virt.h"

#include <algorithm>

#include <fmt/format.h>

namespace wp {

const std::string_view k_virt_probe_script = R"SH(
say() { printf '%s=%s\n' "$1" "$2"; }
if command -v systemd-detect-virt >/dev/null 2>&1; then
    say detect_vm "$(systemd-detect-virt --vm 2>/dev/null)"
    say detect_container "$(systemd-detect-virt --container 2>/dev/null)"
fi
[ -e /proc/vz ] && say proc_vz 1
[ -e /proc/bc ] && say proc_bc 1
[ -e /proc/xen ] && say proc_xen 1
[ -r /proc/xen/capabilities ] && say xen_capabilities "$(cat /proc/xen/capabilities)"
[ -r /sys/hypervisor/type ] && say hypervisor_type "$(cat /sys/hypervisor/type)"
[ -r /sys/class/dmi/id/sys_vendor ] && say dmi_vendor "$(cat /sys/class/dmi/id/sys_vendor)"
[ -r /sys/class/dmi/id/product_name ] && say dmi_product "$(cat /sys/class/dmi/id/product_name)"
cs=/sys/devices/system/clocksource/clocksource0/available_clocksource
[ -r $cs ] && say clocksources "$(cat $cs)"
grep -q '^flags.* hypervisor' /proc/cpuinfo 2>/dev/null && say cpu_hypervisor 1
[ -e /.dockerenv ] && say dockerenv 1
[ -e /run/.containerenv ] && say containerenv 1
[ -r /proc/1/environ ] && say pid1_container "$(tr '\0' '\n' </proc/1/environ | sed -n 's/^container=//p')"
exit 0
)SH";

namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

bool contains(const std::string& haystack, std::string_view needle) {
    return lower(haystack).find(needle) != std::string::npos;
}

bool dmi_says(const VirtFacts& f, std::string_view needle) {
    return contains(f.dmi_vendor, needle) || contains(f.dmi_product, needle);
}

// The VM layer from markers, in systemd-detect-virt's order: DMI names that
// win over CPUID, Xen (a dom0 is no VM), then CPUID's answer (not readable
// from a shell; the kvm-clock and Hyper-V clock sources stand in for it),
// then the other DMI names, /sys/hypervisor/type, the cpuinfo flag.
std::string vm_from_markers(const VirtFacts& f, bool xen_dom0) {
    if (f.dmi_vendor.starts_with("Xen") || f.dmi_product.starts_with("Xen")) return "xen";
    if (dmi_says(f, "amazon ec2")) return "amazon";
    if (dmi_says(f, "innotek") || dmi_says(f, "virtualbox")) return "oracle";
    if (dmi_says(f, "parallels")) return "parallels";
    if (f.proc_xen) return xen_dom0 ? "none" : "xen";
    if (contains(f.clocksources, "kvm-clock")) return "kvm";
    if (contains(f.clocksources, "hyperv")) return "microsoft";
    if (dmi_says(f, "vmware") || f.dmi_vendor.starts_with("VMW")) return "vmware";
    if (dmi_says(f, "qemu") || dmi_says(f, "kvm") || dmi_says(f, "openstack") || dmi_says(f, "kubevirt") ||
        contains(f.dmi_vendor, "red hat") || contains(f.dmi_product, "standard pc")) {
        return "kvm";
    }
    if (contains(f.dmi_vendor, "microsoft") || dmi_says(f, "hyper-v")) return "microsoft";
    if (lower(f.hypervisor_type) == "xen") return "xen";
    if (f.cpu_hypervisor) return "vm-other";
    return "none";
}

} // namespace

VirtFacts parse_virt_facts(std::string_view text) {
    VirtFacts f;
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto end = text.find('\n', pos);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        const std::string_view line = text.substr(pos, end - pos);
        pos = end + 1;
        const auto eq = line.find('=');
        if (eq == std::string_view::npos) {
            continue;
        }
        const std::string_view key = line.substr(0, eq);
        std::string value(line.substr(eq + 1));
        while (!value.empty() && (value.back() == '\r' || value.back() == ' ')) {
            value.pop_back();
        }
        if (key == "detect_vm")
            f.detect_vm = value;
        else if (key == "detect_container")
            f.detect_container = value;
        else if (key == "proc_vz")
            f.proc_vz = value == "1";
        else if (key == "proc_bc")
            f.proc_bc = value == "1";
        else if (key == "proc_xen")
            f.proc_xen = value == "1";
        else if (key == "xen_capabilities")
            f.xen_capabilities = value;
        else if (key == "hypervisor_type")
            f.hypervisor_type = value;
        else if (key == "dmi_vendor")
            f.dmi_vendor = value;
        else if (key == "dmi_product")
            f.dmi_product = value;
        else if (key == "clocksources")
            f.clocksources = value;
        else if (key == "cpu_hypervisor")
            f.cpu_hypervisor = value == "1";
        else if (key == "dockerenv")
            f.dockerenv = value == "1";
        else if (key == "containerenv")
            f.containerenv = value == "1";
        else if (key == "pid1_container")
            f.pid1_container = value;
    }
    return f;
}

VirtDetection detect_virt(const VirtFacts& f) {
    VirtDetection d;
    // Markers first: they are what systemd-detect-virt itself reads, and they
    // work where it is missing (old or minimal systems).
    d.openvz_family = (f.proc_vz && !f.proc_bc) || f.detect_container == "openvz";
    d.xen_dom0 = f.proc_xen && f.xen_capabilities.find("control_d") != std::string::npos;
    if (!f.detect_container.empty()) {
        d.container = f.detect_container;
    } else if (d.openvz_family) {
        d.container = "openvz";
    } else if (!f.pid1_container.empty()) {
        d.container = f.pid1_container;
    } else if (f.containerenv) {
        d.container = "podman";
    } else if (f.dockerenv) {
        d.container = "docker";
    }
    d.vm = f.detect_vm.empty() ? vm_from_markers(f, d.xen_dom0) : f.detect_vm;
    return d;
}

std::string VirtDetection::inventory_virt() const {
    if (openvz_family) {
        return "unknown";
    }
    if (container != "none") {
        return container == "lxc" || container == "lxc-libvirt" ? "lxc" : "unknown";
    }
    if (vm == "none") {
        return xen_dom0 ? "xen" : "physical";
    }
    if (vm == "xen") {
        return "xen";
    }
    if (vm == "vmware") {
        return "vmware";
    }
    if (vm == "kvm" || vm == "qemu" || vm == "amazon") {
        return "kvm";
    }
    return "unknown";
}

std::string VirtDetection::describe() const {
    if (container != "none" && vm != "none") {
        return fmt::format("container {} on vm {}", container, vm);
    }
    if (container != "none") {
        return fmt::format("container {}{}", container, openvz_family ? " (OpenVZ or Virtuozzo)" : "");
    }
    if (vm != "none") {
        return fmt::format("vm {}", vm);
    }
    return xen_dom0 ? "xen dom0" : "physical";
}

ImmutablePolicy immutable_policy(std::string_view inventory_virt, const VirtDetection& detected) {
    if (inventory_virt == "virtuozzo") {
        return {false, "virtuozzo: an immutable file stops the container from booting"};
    }
    if (detected.openvz_family && inventory_virt != "openvz") {
        return {false, "OpenVZ or Virtuozzo, which cannot be told apart from inside: set the server's virt "
                       "(wp-hosts set NAME --virt openvz) to allow chattr +i"};
    }
    return {true, fmt::format("{} allows it",
                              inventory_virt == "unknown" ? detected.describe() : std::string(inventory_virt))};
}

std::string virt_for_inventory(std::string_view current, const VirtDetection& detected) {
    if (detected.openvz_family && (current == "openvz" || current == "virtuozzo")) {
        return std::string(current);
    }
    const std::string d = detected.inventory_virt();
    return d == "unknown" ? std::string(current) : d;
}

} // namespace wp
