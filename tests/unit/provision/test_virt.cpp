#include <gtest/gtest.h>

#include "support/tmpdir.h"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

#include "provision/virt.h"

namespace {

// Facts as the probe prints them on such hosts (root, Debian 12 unless
// said): what systemd-detect-virt answers there, and the files it reads.
struct Recorded {
    const char* host;
    const char* facts;
    const char* vm;
    const char* container;
    const char* describe;
    const char* inventory;
};

const std::array k_recorded = {
    // Xen PV domU: no DMI at all; /proc/xen is there, xenfs not mounted.
    Recorded{"xen-pv-domu",
             "detect_vm=xen\ndetect_container=none\nproc_xen=1\nhypervisor_type=xen\nclocksources=xen tsc \n"
             "cpu_hypervisor=1\npid1_container=\n",
             "xen", "none", "vm xen", "xen"},
    // Xen HVM domU (an older EC2 instance): DMI names Xen.
    Recorded{"xen-hvm-domu",
             "detect_vm=xen\ndetect_container=none\nproc_xen=1\nhypervisor_type=xen\ndmi_vendor=Xen\n"
             "dmi_product=HVM domU\nclocksources=xen tsc hpet acpi_pm \ncpu_hypervisor=1\npid1_container=\n",
             "xen", "none", "vm xen", "xen"},
    // The same PV domU without systemd, xenfs mounted: capabilities empty.
    Recorded{"xen-pv-domu-markers",
             "proc_xen=1\nxen_capabilities=\nhypervisor_type=xen\nclocksources=xen tsc \ncpu_hypervisor=1\n"
             "pid1_container=\n",
             "xen", "none", "vm xen", "xen"},
    // Xen dom0 on a Dell server: xencommons mounted xenfs, the capabilities
    // say control_d; the DMI is the hardware's; systemd-detect-virt: no VM.
    Recorded{"xen-dom0",
             "detect_vm=none\ndetect_container=none\nproc_xen=1\nxen_capabilities=control_d\nhypervisor_type=xen\n"
             "dmi_vendor=Dell Inc.\ndmi_product=PowerEdge R640\nclocksources=xen tsc hpet acpi_pm \n"
             "cpu_hypervisor=1\npid1_container=\n",
             "none", "none", "xen dom0", "xen"},
    // The same dom0 without systemd-detect-virt (an old or minimal dom0).
    Recorded{"xen-dom0-markers",
             "proc_xen=1\nxen_capabilities=control_d\nhypervisor_type=xen\ndmi_vendor=Dell Inc.\n"
             "dmi_product=PowerEdge R640\nclocksources=xen tsc hpet acpi_pm \ncpu_hypervisor=1\npid1_container=\n",
             "none", "none", "xen dom0", "xen"},
    // OpenVZ 7 / Virtuozzo 7 container: /proc/vz, no /proc/bc, no DMI.
    Recorded{"openvz-container",
             "detect_vm=none\ndetect_container=openvz\nproc_vz=1\nclocksources=tsc \npid1_container=\n", "none",
             "openvz", "container openvz (OpenVZ or Virtuozzo)", "unknown"},
    // An old OpenVZ container without systemd.
    Recorded{"openvz-container-markers", "proc_vz=1\npid1_container=\n", "none", "openvz",
             "container openvz (OpenVZ or Virtuozzo)", "unknown"},
    // KVM VPS (QEMU's i440FX machine).
    Recorded{"kvm",
             "detect_vm=kvm\ndetect_container=none\ndmi_vendor=QEMU\ndmi_product=Standard PC (i440FX + PIIX, 1996)\n"
             "clocksources=kvm-clock tsc acpi_pm \ncpu_hypervisor=1\npid1_container=\n",
             "kvm", "none", "vm kvm", "kvm"},
    // KVM VPS whose DMI names the provider, not the hypervisor (Hetzner
    // Cloud), without systemd-detect-virt: the kvm-clock gives it away.
    Recorded{"kvm-markers",
             "dmi_vendor=Hetzner\ndmi_product=vServer\nclocksources=kvm-clock tsc acpi_pm \ncpu_hypervisor=1\n"
             "pid1_container=\n",
             "kvm", "none", "vm kvm", "kvm"},
    // VMware ESXi guest, EFI firmware.
    Recorded{"vmware",
             "detect_vm=vmware\ndetect_container=none\ndmi_vendor=VMware, Inc.\ndmi_product=VMware7,1\n"
             "clocksources=tsc hpet acpi_pm \ncpu_hypervisor=1\npid1_container=\n",
             "vmware", "none", "vm vmware", "vmware"},
    // VMware guest, BIOS firmware, without systemd-detect-virt.
    Recorded{"vmware-markers",
             "dmi_vendor=VMware, Inc.\ndmi_product=VMware Virtual Platform\nclocksources=tsc hpet acpi_pm \n"
             "cpu_hypervisor=1\npid1_container=\n",
             "vmware", "none", "vm vmware", "vmware"},
    // LXC container (Proxmox) on a physical host: the host's DMI shows.
    Recorded{"lxc",
             "detect_vm=none\ndetect_container=lxc\ndmi_vendor=Supermicro\ndmi_product=Super Server\n"
             "clocksources=tsc hpet acpi_pm \npid1_container=lxc\n",
             "none", "lxc", "container lxc", "lxc"},
    // The same without systemd-detect-virt: PID 1's container=lxc.
    Recorded{"lxc-markers",
             "dmi_vendor=Supermicro\ndmi_product=Super Server\nclocksources=tsc hpet acpi_pm \npid1_container=lxc\n",
             "none", "lxc", "container lxc", "lxc"},
    // docker container on a KVM VM, as systemd-detect-virt answers there.
    Recorded{"docker-on-kvm",
             "detect_vm=kvm\ndetect_container=docker\nclocksources=tsc kvm-clock \ncpu_hypervisor=1\ndockerenv=1\n"
             "pid1_container=\n",
             "kvm", "docker", "container docker on vm kvm", "unknown"},
    // docker container (no systemd in the image) on a physical host.
    Recorded{"docker-markers",
             "dmi_vendor=Supermicro\ndmi_product=SYS-5019C-MR\nclocksources=tsc hpet acpi_pm \ndockerenv=1\n"
             "pid1_container=\n",
             "none", "docker", "container docker", "unknown"},
    // Physical server.
    Recorded{"physical",
             "detect_vm=none\ndetect_container=none\ndmi_vendor=Dell Inc.\ndmi_product=PowerEdge R640\n"
             "clocksources=tsc hpet acpi_pm \npid1_container=\n",
             "none", "none", "physical", "physical"},
    // Physical server without systemd-detect-virt.
    Recorded{"physical-markers",
             "dmi_vendor=Supermicro\ndmi_product=Super Server\nclocksources=tsc hpet acpi_pm \npid1_container=\n",
             "none", "none", "physical", "physical"},
};

TEST(Virt, RecordedHostsBothLayers) {
    for (const auto& r : k_recorded) {
        const auto d = wp::detect_virt(wp::parse_virt_facts(r.facts));
        EXPECT_EQ(d.vm, r.vm) << r.host;
        EXPECT_EQ(d.container, r.container) << r.host;
        EXPECT_EQ(d.describe(), r.describe) << r.host;
        EXPECT_EQ(d.inventory_virt(), r.inventory) << r.host;
    }
}

TEST(Virt, MarkersAloneAgreeWithSystemdDetectVirtOnEveryRecordedHost) {
    // Each host recorded with systemd-detect-virt, its answers dropped: the
    // markers must give the same two layers.
    int compared = 0;
    for (const auto& r : k_recorded) {
        std::string facts = r.facts;
        if (!facts.starts_with("detect_vm=")) {
            continue;
        }
        facts.erase(0, facts.find('\n', facts.find("detect_container=")) + 1);
        const auto d = wp::detect_virt(wp::parse_virt_facts(facts));
        EXPECT_EQ(d.vm, r.vm) << r.host;
        EXPECT_EQ(d.container, r.container) << r.host;
        ++compared;
    }
    EXPECT_EQ(compared, 9);
}

TEST(Virt, ProbeOutputParsed) {
    const auto f = wp::parse_virt_facts("proc_xen=1\nxen_capabilities=control_d\r\nclocksources=tsc kvm-clock \n"
                                        "containerenv=1\nunknown_key=1\nno equals sign\n");
    EXPECT_TRUE(f.proc_xen);
    EXPECT_EQ(f.xen_capabilities, "control_d");
    EXPECT_EQ(f.clocksources, "tsc kvm-clock");
    EXPECT_TRUE(f.containerenv);
    EXPECT_FALSE(f.dockerenv);
    EXPECT_EQ(wp::detect_virt(f).container, "podman");
}

TEST(Virt, OpenvzHardwareNodeIsNoContainer) {
    // /proc/bc exists on the node itself, not in its containers
    const auto node = wp::detect_virt(wp::parse_virt_facts("proc_vz=1\nproc_bc=1\ndmi_vendor=Supermicro\n"));
    EXPECT_FALSE(node.openvz_family);
    EXPECT_EQ(node.describe(), "physical");
}

TEST(Virt, ImmutableNeverOnVirtuozzoAndNotOnUnnamedOpenvz) {
    for (const auto& r : k_recorded) {
        const auto d = wp::detect_virt(wp::parse_virt_facts(r.facts));
        // the operator's word wins over whatever the probe sees
        const auto vz = wp::immutable_policy("virtuozzo", d);
        EXPECT_FALSE(vz.allowed) << r.host;
        EXPECT_EQ(vz.reason, "virtuozzo: an immutable file stops the container from booting") << r.host;
        // left to detection: only the OpenVZ family is held back
        EXPECT_EQ(wp::immutable_policy(d.inventory_virt(), d).allowed, !d.openvz_family) << r.host;
    }
    const auto vz = wp::detect_virt(wp::parse_virt_facts("proc_vz=1\n"));
    EXPECT_FALSE(wp::immutable_policy("unknown", vz).allowed);
    EXPECT_NE(wp::immutable_policy("unknown", vz).reason.find("wp-hosts set NAME --virt openvz"), std::string::npos);
    EXPECT_TRUE(wp::immutable_policy("openvz", vz).allowed);
    const auto dom0 = wp::detect_virt(wp::parse_virt_facts("proc_xen=1\nxen_capabilities=control_d\n"));
    EXPECT_EQ(wp::immutable_policy("xen", dom0).reason, "xen allows it");
}

std::string first_line(const std::string& s) {
    return s.substr(0, s.find('\n'));
}

TEST(Virt, ProbeScriptRunsHereAndAgreesWithSystemdDetectVirt) {
    char tmpl[] = "/tmp/wp-probe.XXXXXX";
    const int fd = mkstemp(tmpl);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, wp::k_virt_probe_script.data(), wp::k_virt_probe_script.size()),
              static_cast<ssize_t>(wp::k_virt_probe_script.size()));
    close(fd);
    const std::string out = shell_output(std::string("sh ") + tmpl);
    unlink(tmpl);
    if (system("command -v systemd-detect-virt >/dev/null 2>&1") != 0) {
        GTEST_SKIP() << "systemd-detect-virt is not installed: nothing to compare with";
    }
    const std::string vm = first_line(shell_output("systemd-detect-virt --vm"));
    const std::string container = first_line(shell_output("systemd-detect-virt --container"));
    const auto d = wp::detect_virt(wp::parse_virt_facts(out));
    EXPECT_EQ(d.vm, vm);
    EXPECT_EQ(d.container, container);
    // and from the markers alone, as on a host without systemd
    std::string markers;
    for (std::size_t pos = 0; pos < out.size();) {
        const auto end = out.find('\n', pos);
        const std::string line = out.substr(pos, end - pos + 1);
        if (!line.starts_with("detect_")) {
            markers += line;
        }
        pos = end == std::string::npos ? out.size() : end + 1;
    }
    const auto m = wp::detect_virt(wp::parse_virt_facts(markers));
    EXPECT_EQ(m.vm, vm) << markers;
    EXPECT_EQ(m.container, container) << markers;
}

} // namespace
