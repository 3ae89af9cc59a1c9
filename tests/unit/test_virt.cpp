#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>

#include "virt.h"

namespace {

// Facts recorded on real machines, as the probe prints them.
constexpr const char* k_this_builder = "detect_vm=kvm\ndetect_container=docker\ndmi_vendor=QEMU\n"
                                       "dmi_product=Standard PC (i440FX + PIIX, 1996)\ncpu_hypervisor=1\ndockerenv=1\n";
constexpr const char* k_openvz_inside = "proc_vz=1\ncpu_hypervisor=1\n"; // old OpenVZ/Virtuozzo: no systemd-detect-virt
constexpr const char* k_openvz_host_node = "proc_vz=1\nproc_bc=1\n";     // the hardware node itself
constexpr const char* k_xen_pv = "proc_xen=1\nhypervisor_type=xen\n";
constexpr const char* k_vmware = "dmi_vendor=VMware, Inc.\ndmi_product=VMware Virtual Platform\ncpu_hypervisor=1\n";
constexpr const char* k_physical = "detect_vm=none\ndetect_container=none\ndmi_vendor=Dell Inc.\n";
constexpr const char* k_lxc = "detect_vm=none\ndetect_container=lxc\npid1_container=lxc\n";

TEST(Virt, BothLayersFromSystemdDetectVirt) {
    const auto d = wp::detect_virt(wp::parse_virt_facts(k_this_builder));
    EXPECT_EQ(d.vm, "kvm");
    EXPECT_EQ(d.container, "docker");
    EXPECT_EQ(d.describe(), "container docker on vm kvm");
    EXPECT_EQ(d.inventory_virt(), "unknown");
}

TEST(Virt, MarkersWithoutSystemd) {
    auto vz = wp::detect_virt(wp::parse_virt_facts(k_openvz_inside));
    EXPECT_TRUE(vz.openvz_family);
    EXPECT_EQ(vz.container, "openvz");
    EXPECT_EQ(vz.inventory_virt(), "unknown"); // might be Virtuozzo
    EXPECT_FALSE(wp::detect_virt(wp::parse_virt_facts(k_openvz_host_node)).openvz_family);
    EXPECT_EQ(wp::detect_virt(wp::parse_virt_facts(k_xen_pv)).inventory_virt(), "xen");
    EXPECT_EQ(wp::detect_virt(wp::parse_virt_facts(k_vmware)).inventory_virt(), "vmware");
    EXPECT_EQ(wp::detect_virt(wp::parse_virt_facts(k_physical)).inventory_virt(), "physical");
    EXPECT_EQ(wp::detect_virt(wp::parse_virt_facts(k_lxc)).inventory_virt(), "lxc");
}

TEST(Virt, ImmutableNeverOnVirtuozzoAndNotOnUnnamedOpenvz) {
    const auto vz = wp::detect_virt(wp::parse_virt_facts(k_openvz_inside));
    EXPECT_FALSE(wp::immutable_policy("virtuozzo", vz).allowed);
    EXPECT_FALSE(wp::immutable_policy("unknown", vz).allowed);
    EXPECT_NE(wp::immutable_policy("unknown", vz).reason.find("wp-hosts set NAME --virt openvz"), std::string::npos);
    EXPECT_TRUE(wp::immutable_policy("openvz", vz).allowed);
    const auto xen = wp::detect_virt(wp::parse_virt_facts(k_xen_pv));
    EXPECT_TRUE(wp::immutable_policy("xen", xen).allowed);
    // the operator's word wins over what the probe cannot see
    EXPECT_FALSE(wp::immutable_policy("virtuozzo", xen).allowed);
}

TEST(Virt, ProbeScriptRunsHereAndAgreesWithSystemdDetectVirt) {
    char tmpl[] = "/tmp/wp-probe.XXXXXX";
    const int fd = mkstemp(tmpl);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, wp::k_virt_probe_script.data(), wp::k_virt_probe_script.size()),
              static_cast<ssize_t>(wp::k_virt_probe_script.size()));
    close(fd);
    std::string out;
    FILE* run = popen((std::string("sh ") + tmpl).c_str(), "r");
    std::array<char, 4096> buf{};
    std::size_t n = 0;
    while ((n = fread(buf.data(), 1, buf.size(), run)) > 0) {
        out.append(buf.data(), n);
    }
    ASSERT_EQ(pclose(run), 0);
    unlink(tmpl);
    const auto d = wp::detect_virt(wp::parse_virt_facts(out));
    if (system("command -v systemd-detect-virt >/dev/null 2>&1") == 0) {
        FILE* sdv = popen("systemd-detect-virt --vm", "r");
        char line[64] = {};
        ASSERT_NE(fgets(line, sizeof line, sdv), nullptr);
        pclose(sdv);
        std::string vm(line);
        vm.erase(vm.find_last_not_of("\n") + 1);
        EXPECT_EQ(d.vm, vm);
    } else {
        EXPECT_FALSE(d.describe().empty());
    }
}

} // namespace
