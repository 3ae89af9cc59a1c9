#include "virt.h"

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
[ -r /sys/hypervisor/type ] && say hypervisor_type "$(cat /sys/hypervisor/type)"
[ -r /sys/class/dmi/id/sys_vendor ] && say dmi_vendor "$(cat /sys/class/dmi/id/sys_vendor)"
[ -r /sys/class/dmi/id/product_name ] && say dmi_product "$(cat /sys/class/dmi/id/product_name)"
grep -q '^flags.* hypervisor' /proc/cpuinfo 2>/dev/null && say cpu_hypervisor 1
{ [ -e /.dockerenv ] || [ -e /run/.containerenv ]; } && say dockerenv 1
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
        if (key == "detect_vm") f.detect_vm = value;
        else if (key == "detect_container") f.detect_container = value;
        else if (key == "proc_vz") f.proc_vz = value == "1";
        else if (key == "proc_bc") f.proc_bc = value == "1";
        else if (key == "proc_xen") f.proc_xen = value == "1";
        else if (key == "hypervisor_type") f.hypervisor_type = value;
        else if (key == "dmi_vendor") f.dmi_vendor = value;
        else if (key == "dmi_product") f.dmi_product = value;
        else if (key == "cpu_hypervisor") f.cpu_hypervisor = value == "1";
        else if (key == "dockerenv") f.dockerenv = value == "1";
        else if (key == "pid1_container") f.pid1_container = value;
    }
    return f;
}

VirtDetection detect_virt(const VirtFacts& f) {
    VirtDetection d;
    // Markers first: they are what systemd-detect-virt itself reads, and they
    // work where it is missing (old or minimal systems).
    d.openvz_family = (f.proc_vz && !f.proc_bc) || f.detect_container == "openvz";
    if (!f.detect_container.empty()) {
        d.container = f.detect_container;
    } else if (d.openvz_family) {
        d.container = "openvz";
    } else if (!f.pid1_container.empty()) {
        d.container = f.pid1_container;
    } else if (f.dockerenv) {
        d.container = "docker";
    }
    if (!f.detect_vm.empty()) {
        d.vm = f.detect_vm;
    } else if (f.proc_xen || lower(f.hypervisor_type) == "xen" || contains(f.dmi_vendor, "xen")) {
        d.vm = "xen";
    } else if (contains(f.dmi_vendor, "vmware") || contains(f.dmi_product, "vmware")) {
        d.vm = "vmware";
    } else if (contains(f.dmi_vendor, "qemu") || contains(f.dmi_product, "kvm") ||
               contains(f.dmi_vendor, "red hat") || contains(f.dmi_product, "standard pc")) {
        d.vm = "kvm";
    } else if (contains(f.dmi_vendor, "microsoft")) {
        d.vm = "microsoft";
    } else if (f.cpu_hypervisor) {
        d.vm = "vm-other";
    }
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
        return "physical";
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
    return "physical";
}

ImmutablePolicy immutable_policy(std::string_view inventory_virt, const VirtDetection& detected) {
    if (inventory_virt == "virtuozzo") {
        return {false, "virtuozzo: an immutable file stops the container from booting"};
    }
    if (detected.openvz_family && inventory_virt != "openvz") {
        return {false, "OpenVZ or Virtuozzo, which cannot be told apart from inside: set the server's virt "
                       "(wp-hosts set NAME --virt openvz) to allow chattr +i"};
    }
    return {true, fmt::format("{} allows it", inventory_virt == "unknown" ? detected.describe()
                                                                            : std::string(inventory_virt))};
}

} // namespace wp
