// One "node" claiming for one pod against an API server, as plexus's ADD does before any delegate
// runs: the pod from the API (its StatefulSet owner and ordinal), one sticky network, the claim in
// StickyClaim objects. Exec'd by sticky_api_tests, several at once, to race real processes.
//   sticky_claim_racer KUBECONFIG NETWORK_CONFIG_FILE NAMESPACE POD NODE [NETWORK_NAME]
// Prints {"name","address","mac","created"} and exits 0, or the CNI error JSON and exits 1.
#include <plexus/cni/errors.hpp>
#include <plexus/k8s/api_client.hpp>
#include <plexus/k8s/config.hpp>
#include <plexus/meta/k8s_source.hpp>
#include <plexus/meta/sticky_claims.hpp>

#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>
#include <sstream>

int main(int argc, char** argv) {
  if (argc < 6) {
    std::cerr << "usage: sticky_claim_racer KUBECONFIG NETWORK_CONFIG_FILE NAMESPACE POD NODE [NETWORK_NAME]\n";
    return 2;
  }
  try {
    std::ifstream in(argv[2]);
    std::stringstream config;
    config << in.rdbuf();
    plexus::k8s::ClientOptions options;
    options.connect_timeout = std::chrono::milliseconds(2000);
    options.request_timeout = std::chrono::milliseconds(5000);
    const plexus::k8s::ApiClient client(plexus::k8s::load_kubeconfig(argv[1]), options);
    plexus::meta::KubernetesSource source(client);
    const auto pod = source.get_pod(argv[3], argv[4], false);
    std::vector<plexus::meta::ResolvedNetwork> networks(1);
    networks[0].status_name = std::string(argv[3]) + "/" + (argc > 6 ? argv[6] : "ip-192-sticky");
    networks[0].config = config.str();
    const auto claimed = plexus::meta::claim_sticky_networks(networks, pod ? &*pod : nullptr, source.claim_store(), argv[5]);
    const auto& claim = claimed.at(0).claim;
    std::cout << nlohmann::json{{"name", claim.name}, {"address", claim.address}, {"mac", claim.mac}, {"created", claimed[0].created}}.dump()
              << "\n";
    return 0;
  } catch (const plexus::cni::Error& e) {
    std::cout << e.to_json() << "\n";
  } catch (const std::exception& e) {
    std::cout << plexus::cni::Error(plexus::cni::ErrorCode::Internal, e.what()).to_json() << "\n";
  }
  return 1;
}
