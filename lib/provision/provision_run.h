#pragma once
// wp-provision plan or apply on its hosts: which hosts, each host's run from
// connect to its inventory row, and what host_status learns from it.

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "provision/answer_lists.h"
#include "provision/provision_output.h"
#include "provision/provision_steps.h"
#include "provision/virt.h"
#include "remote/ssh.h"
#include "store/host_status.h"
#include "store/inventory.h"

namespace wp {

/// A host to provision: where it is and what the inventory knows of it.
struct ProvisionJob {
    std::string name; ///< inventory name (or the one --name gives)
    SshTarget target;
    std::optional<Server> server; ///< its row, when it has one
};

/// The hosts to provision, once each in the order given. With a new_name
/// (--name), hosts is one [USER@]ADDRESS[:PORT] for that server, which the
/// inventory may already hold at that address; otherwise hosts are inventory
/// names. default_user is the login when neither target nor row names one.
/// A wrong shape is Error(64), an unknown name Error(66). inventory may be
/// null (plan without a database).
std::vector<ProvisionJob> select_jobs(Inventory* inventory, const std::string& new_name,
                                      const std::vector<std::string>& hosts, const std::string& default_user);

/// "%n" in hostname replaced by the server's name.
std::string expand_hostname(std::string_view pattern, std::string_view server);

/// What the operator asks of a server's inventory row (--city, --country,
/// --provider); unset fields are left as they are.
struct ServerDetails {
    std::optional<std::string> city;
    std::optional<std::string> country;
    std::optional<std::string> provider;
};

/// The inventory step: adds the job's server with the detected virt, or
/// brings its row up to date (virt, active, details). Changes the inventory
/// only when apply; inventory may be null only for a plan.
StepResult inventory_step(Inventory* inventory, const ProvisionJob& job, const ServerDetails& details,
                          const VirtDetection& virt, bool apply);

/// One host's provisioning: its steps, and its turn as host_status sees it
/// (ok; unreachable when it never answered; failed when a step failed).
struct ProvisionResult {
    HostResult host;
    std::vector<StepResult> steps;
};

/// What every host of a run shares.
struct ProvisionRunSettings {
    ProvisionSettings steps; ///< hostname and ask are set per host
    SshSettings ssh;
    std::chrono::seconds timeout{0}; ///< one whole host, connect included
    std::string hostname;            ///< --hostname pattern; empty: none
    ServerDetails details;
    bool ask = false; ///< the operator is at a terminal to answer package questions
};

/// A plan or apply over many hosts. run_host is safe to call from one
/// thread per host.
class ProvisionRun {
public:
    /// inventory may be null only for a plan; it, out and lists must outlive this.
    ProvisionRun(ProvisionRunSettings settings, Inventory* inventory, ProvisionOutput& out, AnswerLists& lists);

    /// Provisions one host: connects, runs the steps (their lines on out),
    /// then the inventory step; on apply records the turn in host_status;
    /// prints the host's closing line (a failure as a warning). Failures of
    /// the host are the result, never an exception.
    ProvisionResult run_host(const ProvisionJob& job);

private:
    void record(const ProvisionJob& job, const ProvisionResult& result);
    void report(const ProvisionJob& job, const ProvisionResult& result);

    ProvisionRunSettings m_settings;
    Inventory* m_inventory;
    ProvisionOutput& m_out;
    AnswerLists& m_lists;
    std::mutex m_inventory_mutex; // one database connection for every host's thread
};

} // namespace wp
